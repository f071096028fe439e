/** The database URL with its password replaced, for logs and error messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable MEMORY_DATABASE_URL)';
  }
}

/** Scrubs a database URL (and its password alone) from an error message the driver produced. */
export function scrubDatabaseSecrets(message: string, url: string): string {
  let out = message.split(url).join(redactDatabaseUrl(url));
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password.length >= 4) out = out.split(password).join('***');
  } catch {
    // nothing to scrub beyond the URL itself
  }
  return out;
}
