// Pure helpers for the draft: splitting typed or pasted text into addresses, and estimating the
// message size the service compares with size limits.

/** Splits typed or pasted text on commas, semicolons and line breaks (and on spaces between
 * addresses); a pasted "Name <addr>" keeps only the address, as the service expects bare
 * addresses. Empty pieces are dropped. */
export function splitAddresses(text: string): string[] {
  const out: string[] = [];
  for (const piece of text.split(/[,;\n\r\t]+/)) {
    const angle = piece.match(/<([^<>]*)>/);
    if (angle) {
      const inner = angle[1].trim();
      if (inner) out.push(inner);
      continue;
    }
    for (const word of piece.trim().split(/\s+/)) {
      if (word) out.push(word);
    }
  }
  return out;
}

/** The bytes of a string in UTF-8. */
export function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Headers and MIME structure of a typical message. */
const OVERHEAD_BYTES = 2048;

/** An estimate of the sent size: headers, subject and body as UTF-8, and attachments as
 * base64 (a third larger), rounded up to whole 4 KiB so that typing in the body does not
 * change the draft the service sees at every key. */
export function estimateSize(subject: string, body: string, attachmentMegabytes: number): number {
  const attach = Number.isFinite(attachmentMegabytes) && attachmentMegabytes > 0 ? attachmentMegabytes : 0;
  const raw = OVERHEAD_BYTES + utf8Length(subject) + utf8Length(body) + Math.ceil((attach * 1_000_000 * 4) / 3);
  return Math.ceil(raw / 4096) * 4096;
}

/** "12.3 MB" style, in decimal units as mail servers state limits. */
export function humanSize(bytes: number): string {
  if (bytes >= 1_000_000_000) return `${(bytes / 1_000_000_000).toFixed(1)} GB`;
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1_000) return `${Math.round(bytes / 1_000)} KB`;
  return `${bytes} B`;
}
