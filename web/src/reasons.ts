// The service's validation reasons (google.rpc.BadRequest field violations, always in English)
// in the page's language: each known reason has a Japanese wording; an unknown one is shown as
// the service wrote it.

import type { Lang } from "./i18n";

/** English reason pattern → Japanese, with $1… for what the pattern captured. */
const JA: [RegExp, string][] = [
  [/^address is empty$/, "アドレスが空です"],
  [/^address is longer than (\d+) bytes$/, "アドレスが $1 バイトを超えています"],
  [/^missing '@'$/, "「@」がありません"],
  [/^local part \(before '@'\) is empty$/, "「@」の前が空です"],
  [/^local part is longer than (\d+) bytes$/, "「@」の前が $1 バイトを超えています"],
  [/^local part has a character not allowed in an address: (.+)$/, "「@」の前にアドレスに使えない文字 $1 があります"],
  [/^local part has an empty dot-separated segment$/, "「@」の前でドット（.）が連続しているか、先頭か末尾にあります"],
  [/^domain is empty$/, "ドメイン（「@」の後）が空です"],
  [/^domain is longer than (\d+) bytes$/, "ドメインが $1 バイトを超えています"],
  [/^domain has an invalid label (.+)$/, "ドメインの $1 の部分が正しくありません"],
  [/^domain needs at least one dot$/, "ドメインにドット（.）が必要です"],
  [/^must be TO, CC or BCC$/, "宛先、CC、BCC のいずれかを指定してください"],
  [/^longer than (\d+) bytes$/, "$1 バイトを超えています"],
  [/^(\d+) recipients is more than the maximum of (\d+) per request$/, "宛先が $1 件あり、上限の $2 件を超えています"],
  [/^(\d+) original recipients is more than the maximum of (\d+)$/, "元の受信者が $1 件あり、上限の $2 件を超えています"],
  [/^(.+) is not a BCP 47 language tag .*$/, "$1 は言語タグとして正しくありません"],
];

/** The reason in `lang`: Japanese when a wording is known, otherwise as the service sent it. */
export function localReason(lang: Lang, reason: string): string {
  if (lang !== "ja") return reason;
  for (const [pattern, ja] of JA) {
    const m = reason.match(pattern);
    if (m) return ja.replace(/\$(\d)/g, (_, i) => m[Number(i)] ?? "");
  }
  return reason;
}
