/**
 * Two first calls from one caller (two job processes, possibly two machines) can both find no agent and both create
 * one. Every process then lists again and keeps the same one: the oldest by the server's created_at, ties broken by
 * id. Letta assigns created_at at insert, so whoever lists after both inserts sees both and agrees on the winner.
 */
export interface Dated {
  id: string;
  created_at?: string | null;
}

export function oldestFirst<T extends Dated>(items: readonly T[]): T[] {
  const time = (item: T) => {
    const at = Date.parse(item.created_at ?? '');
    return Number.isNaN(at) ? Number.POSITIVE_INFINITY : at;
  };
  return [...items].sort((a, b) => time(a) - time(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function winnerOf<T extends Dated>(items: readonly T[]): T | undefined {
  return oldestFirst(items)[0];
}
