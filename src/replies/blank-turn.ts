/**
 * True for an utterance with nothing to answer: empty, whitespace, or only punctuation and symbols (an STT
 * artefact such as "." or "…", a cough transcribed as "-"). Such a turn starts no reply and is not remembered.
 */
export function isBlankUtterance(text: string | undefined): boolean {
  return text === undefined || /^[\s\p{P}\p{S}]*$/u.test(text);
}
