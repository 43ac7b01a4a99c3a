//! Text handling for tips: HTML auto-replies to plain text, cutting by characters, and the
//! human texts of every tip kind in English and Japanese.

use std::fmt::{self, Write as _};

use bytes::BytesMut;
use bytestring::ByteString;

use crate::domain::{Lang, RestrictionReason, SizeLimitSource};

mod beyond_exchange;

/// Auto-reply preview and custom tip length, in characters.
pub const PREVIEW_CHARS: usize = 175;
/// The longest text field of a response, in characters.
pub const MAX_TEXT_CHARS: usize = 1000;

/// Cuts `s` to at most `max` Unicode scalar values; returns the cut text and whether anything
/// was cut. Never splits a character.
pub fn cut_chars(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        // No more characters than bytes: nothing to cut, no need to walk the characters.
        return (s, false);
    }
    match s.char_indices().nth(max) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

/// The longest name (display name or address) inside a tip text, in characters.
pub const NAME_CHARS: usize = 100;

/// `name` cut to [`NAME_CHARS`] characters, with "…" when cut: no text grows past its limit
/// however long a directory's display name is.
pub fn cap_name(name: &str) -> std::borrow::Cow<'_, str> {
    match cut_chars(name, NAME_CHARS) {
        (s, false) => std::borrow::Cow::Borrowed(s),
        (s, true) => std::borrow::Cow::Owned(format!("{s}…")),
    }
}

/// A directory display name as a text names it: capped ([`cap_name`]), and in Japanese
/// followed by さん when it is a person's (a mailbox's).
pub fn name_in_text(lang: Lang, name: &str, person: bool) -> std::borrow::Cow<'_, str> {
    let capped = cap_name(name);
    if lang == Lang::Ja && person {
        std::borrow::Cow::Owned(format!("{capped} さん"))
    } else {
        capped
    }
}

/// A name before a Japanese particle: an address or a Latin name keeps a space before the
/// Japanese text that follows (「taro@contoso.com は」), a Japanese one does not (「佐藤 花子 さんは」).
/// Written where it is used, so an English text, which never uses it, costs nothing.
struct JaSpaced<'a>(&'a str);

impl fmt::Display for JaSpaced<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        if self.0.chars().last().is_some_and(|c| c.is_ascii()) {
            f.write_str(" ")?;
        }
        Ok(())
    }
}

/// `format!` into a string allocated once for the whole text. `format!` sizes its string
/// from the literal pieces alone, so every text with a name in it grew it again while being
/// written.
macro_rules! text {
    ($($arg:tt)*) => {{
        let mut text = String::with_capacity(256);
        std::fmt::Write::write_fmt(&mut text, format_args!($($arg)*))
            .expect("writing into a String does not fail");
        text
    }};
}
pub(crate) use text;

/// `format!` for a recipient's tip text, written by [`write_text`]: a draft's recipients have
/// dozens of tips, and each text was an allocation of its own, freed after the answer.
macro_rules! tip_text {
    ($($arg:tt)*) => {
        $crate::domain::text::write_text(format_args!($($arg)*))
    };
}
pub(crate) use tip_text;

/// How much of the current buffer [`write_text`] leaves free before it takes a new one: room
/// for any text but an automatic reply's longest (a text grows the buffer when it needs more,
/// which copies only that text).
const TEXT_ROOM: usize = 512;

/// Writes a tip text into this thread's text buffer and splits it off as a shared slice: the
/// texts of a draft (and of the drafts after it on the same thread) share a few 8 KiB
/// buffers, each freed when the last text in it is dropped, instead of an allocation each.
/// The texts of an answer are dropped with it, so a buffer lives about as long as a request.
pub fn write_text(args: fmt::Arguments<'_>) -> ByteString {
    const BUFFER: usize = 8 * 1024;
    thread_local! {
        static TEXTS: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
    }
    let text = TEXTS.with_borrow_mut(|buf| {
        if buf.capacity() - buf.len() < TEXT_ROOM {
            *buf = BytesMut::with_capacity(BUFFER);
        }
        fmt::Write::write_fmt(buf, args).expect("a BytesMut grows as it is written");
        buf.split().freeze()
    });
    // SAFETY: what `split` takes is exactly what was written since the last split, and all
    // of it came through `write_str`, as whole `&str`s: it is UTF-8. (Checking it again was
    // a tenth of this function's cost.)
    unsafe { ByteString::from_bytes_unchecked(text) }
}

/// Whether `c` is a wide (East Asian) character: kana, CJK ideographs, full-width forms and
/// CJK punctuation such as 。 and 、.
fn is_wide(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{30FF}' | '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{FF00}'..='\u{FFEF}')
}

/// A text with its line breaks folded into one line as it is written: removed after Japanese
/// punctuation (no stray space after 。) and between two wide characters, a space otherwise.
struct Folded<'a>(&'a str);

impl fmt::Display for Folded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The last character written: every line written is trimmed and not empty.
        let mut last: Option<char> = None;
        for line in self.0.split('\n').map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(c) = last {
                let after_punctuation = matches!(
                    c,
                    '\u{3000}'..='\u{303F}' | '！' | '？' | '）' | '：' | '，' | '．'
                );
                let between_wide = is_wide(c) && line.starts_with(is_wide);
                if !after_punctuation && !between_wide {
                    f.write_str(" ")?;
                }
            }
            f.write_str(line)?;
            last = line.chars().last();
        }
        Ok(())
    }
}

/// Up to five names joined for a sentence, then how many more ("a, b and 3 more";
/// 「a、b ほか 3 件」).
fn name_list(lang: Lang, names: &[String]) -> String {
    const SHOWN: usize = 5;
    let sep = if lang == Lang::Ja { "、" } else { ", " };
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| cap_name(n))
        .collect::<Vec<_>>()
        .join(sep);
    if names.len() > SHOWN {
        let more = names.len() - SHOWN;
        let _ = match lang {
            Lang::En => write!(s, " and {more} more"),
            Lang::Ja => write!(s, " ほか {more} 件"),
        };
    }
    s
}

/// Whether `s` looks like HTML: it holds a tag such as `<p>`, `</div>`, `<br/>` or `<!--`.
fn looks_like_html(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || w[1] == b'/' || w[1] == b'!'))
        && s.contains('>')
}

/// Turns an HTML fragment into plain text: drops tags, comments, `<script>` and `<style>`
/// content; turns block ends and `<br>` into line breaks; decodes character references; and
/// collapses runs of white space. Plain text (no tags) only has its white space tidied.
pub fn html_to_text(html: &str) -> String {
    if !looks_like_html(html) {
        return collapse_ws(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_html_text(&rest[..lt], &mut out);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // A stray '<' with no tag end: keep it as text.
            push_html_text(rest, &mut out);
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if !tag.starts_with('/') && (name == "script" || name == "style") {
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower.find(&close).map_or("", |i| {
                let after = &rest[i..];
                after.find('>').map_or("", |j| &after[j + 1..])
            });
            continue;
        }
        match name.as_str() {
            "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
            | "blockquote" | "table" | "ul" | "ol" => {
                out.truncate(out.trim_end_matches(' ').len());
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            "td" | "th" => out.push(' '),
            _ => {}
        }
    }
    push_html_text(rest, &mut out);
    collapse_ws(&out)
}

/// Appends an HTML text node: white space (line breaks included) collapses to one space, as a
/// browser renders it; character references are decoded.
fn push_html_text(text: &str, out: &mut String) {
    let mut collapsed = String::with_capacity(text.len());
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 || text.starts_with(char::is_whitespace) {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    if text.ends_with(char::is_whitespace) && !collapsed.ends_with(' ') {
        collapsed.push(' ');
    }
    if out.ends_with([' ', '\n']) {
        collapsed = collapsed.trim_start().to_owned();
    }
    decode_entities_into(&collapsed, out);
}

/// Collapses spaces within lines, drops blank lines at the ends and keeps at most one empty
/// line between paragraphs.
fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            blank_run += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_run > 0 { "\n\n" } else { "\n" });
        }
        blank_run = 0;
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

fn decode_entities_into(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .map(|i| i + 1);
        let decoded = end
            .filter(|&e| rest.as_bytes().get(e) == Some(&b';'))
            .and_then(|e| decode_entity(&rest[1..e]).map(|c| (c, e + 1)));
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

fn decode_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(n).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "yen" => '¥',
        "euro" => '€',
        _ => return None,
    })
}

/// Formats a byte count for people: "25 MB", "1.5 GB" (decimal units, as mail clients show).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if value < 10.0 && value.fract() >= 0.05 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// The human texts of every tip, per language. `who` is the recipient's display name or
/// address.
pub struct Texts;

impl Texts {
    pub fn invalid(lang: Lang, who: &str, malformed: bool) -> ByteString {
        let who_ = JaSpaced(who);
        match (lang, malformed) {
            (Lang::En, false) => tip_text!(
                "{who} could not be found in the organisation's directory. The message may not be delivered."
            ),
            (Lang::Ja, false) => tip_text!(
                "{who_}は組織のディレクトリに見つかりません。メッセージは配信されない可能性があります。"
            ),
            (Lang::En, true) => tip_text!("{who} is not a valid email address."),
            (Lang::Ja, true) => tip_text!("{who_}は有効なメール アドレスではありません。"),
        }
    }

    pub fn mailbox_full(lang: Lang, who: &str) -> ByteString {
        let who_ = JaSpaced(who);
        match lang {
            Lang::En => tip_text!("{who}'s mailbox is full. The message will not be delivered."),
            Lang::Ja => {
                tip_text!("{who_}のメールボックスがいっぱいです。メッセージは配信されません。")
            }
        }
    }

    /// `more` adds an ellipsis when the preview was cut from a longer reply.
    /// The preview's line breaks are folded into the one-line text ([`Folded`]).
    pub fn auto_reply(lang: Lang, who: &str, preview: &str, more: bool) -> ByteString {
        let who_ = JaSpaced(who);
        let ellipsis = if more { "…" } else { "" };
        let preview = Folded(preview);
        match lang {
            Lang::En => tip_text!("{who} has automatic replies on: {preview}{ellipsis}"),
            Lang::Ja => tip_text!("{who_}は自動応答を設定しています：{preview}{ellipsis}"),
        }
    }

    pub fn restricted(lang: Lang, who: &str, reason: RestrictionReason) -> ByteString {
        let who_ = JaSpaced(who);
        match (lang, reason) {
            (Lang::En, RestrictionReason::RequiresAuthenticatedSender) => tip_text!(
                "{who} accepts messages only from senders inside the organisation. Your message will not be delivered."
            ),
            (Lang::Ja, RestrictionReason::RequiresAuthenticatedSender) => tip_text!(
                "{who_}は組織内の送信者からのメッセージのみ受け付けます。メッセージは配信されません。"
            ),
            (Lang::En, _) => tip_text!(
                "You don't have permission to send to {who}. Your message will not be delivered."
            ),
            (Lang::Ja, _) => {
                tip_text!("{who_}に送信する権限がありません。メッセージは配信されません。")
            }
        }
    }

    pub fn external(lang: Lang, who: &str) -> ByteString {
        let who_ = JaSpaced(who);
        match lang {
            Lang::En => tip_text!("{who} is outside your organisation."),
            Lang::Ja => tip_text!("{who_}は組織外の受信者です。"),
        }
    }

    pub fn external_group(lang: Lang, who: &str, external: u32, total: u32) -> ByteString {
        let who_ = JaSpaced(who);
        match lang {
            Lang::En => tip_text!(
                "{who} contains {external} recipient(s) outside your organisation (of {total})."
            ),
            Lang::Ja => {
                tip_text!("{who_}のメンバー {total} 人のうち {external} 人が組織外の受信者です。")
            }
        }
    }

    pub fn large_audience(lang: Lang, who: &str, members: u32) -> ByteString {
        let who_ = JaSpaced(who);
        match lang {
            Lang::En => tip_text!(
                "{who} has {members} members. Are you sure you want to send to this many people?"
            ),
            Lang::Ja => tip_text!(
                "{who_}には {members} 人のメンバーがいます。本当にこれだけ多くの人に送信しますか？"
            ),
        }
    }

    pub fn moderated(lang: Lang, who: &str) -> ByteString {
        let who_ = JaSpaced(who);
        match lang {
            Lang::En => tip_text!(
                "{who} is moderated. Your message may be delayed until a moderator approves it."
            ),
            Lang::Ja => tip_text!(
                "{who_}はモデレートされています。モデレーターが承認するまでメッセージの配信が遅れる場合があります。"
            ),
        }
    }

    pub fn reply_all_on_bcc(lang: Lang) -> ByteString {
        ByteString::from_static(match lang {
            Lang::En => {
                "You were a Bcc recipient of the original message. Replying to all will reveal that you received it."
            }
            Lang::Ja => {
                "元のメッセージの BCC 受信者でした。全員に返信すると、受信したことが他の受信者に知られます。"
            }
        })
    }

    pub fn too_large(lang: Lang, source: SizeLimitSource, who: &str, limit: u64) -> String {
        let who_ = JaSpaced(who);
        let limit = human_size(limit);
        let mut s = String::new();
        let _ = match (lang, source) {
            (Lang::En, SizeLimitSource::Sender) => {
                write!(s, "This message is larger than you may send ({limit}).")
            }
            (Lang::Ja, SizeLimitSource::Sender) => write!(
                s,
                "このメッセージは送信できるサイズ（{limit}）を超えています。"
            ),
            (Lang::En, SizeLimitSource::Recipient) => write!(
                s,
                "This message is larger than {who} can receive ({limit})."
            ),
            (Lang::Ja, SizeLimitSource::Recipient) => write!(
                s,
                "このメッセージは、{who_}が受信できるサイズ（{limit}）を超えています。"
            ),
            (Lang::En, SizeLimitSource::Organization) => write!(
                s,
                "This message is larger than your organisation allows ({limit})."
            ),
            (Lang::Ja, SizeLimitSource::Organization) => write!(
                s,
                "このメッセージは組織で許可されているサイズ（{limit}）を超えています。"
            ),
        };
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(s: &str) -> String {
        Folded(s).to_string()
    }

    #[test]
    fn tip_texts_share_a_buffer_and_stay_apart() {
        let a = write_text(format_args!("{}", "a".repeat(300)));
        let b = write_text(format_args!("b{}", 1));
        // Longer than a whole buffer: the buffer grows for it.
        let long = write_text(format_args!("{}", "長".repeat(5000)));
        let c = write_text(format_args!("{}さん", "佐藤"));
        assert_eq!(a, "a".repeat(300));
        assert_eq!(b, "b1");
        assert_eq!(long, "長".repeat(5000));
        assert_eq!(c, "佐藤さん");
    }

    #[test]
    fn cuts_by_characters_not_bytes() {
        let s = "日本語のテキスト";
        assert_eq!(cut_chars(s, 3), ("日本語", true));
        assert_eq!(cut_chars(s, 8), (s, false));
        assert_eq!(cut_chars(s, 100), (s, false));
        let emoji = "👍🏽ok";
        assert_eq!(cut_chars(emoji, 1), ("👍", true));
    }

    #[test]
    fn html_becomes_text() {
        let html = "<html><head><style>p{color:red}</style></head><body><p>I&#39;m out&nbsp;of office.</p><p>Back on <b>Monday</b> &amp; reachable at &lt;phone&gt;.</p><!-- hidden --><script>alert(1)</script>Bye</body></html>";
        assert_eq!(
            html_to_text(html),
            "I'm out of office.\nBack on Monday & reachable at <phone>.\nBye"
        );
        assert_eq!(html_to_text("a < b and c > d"), "a < b and c > d");
        assert_eq!(
            html_to_text("<p>one\ntwo</p>\n\n<p>three</p>"),
            "one two\nthree"
        );
        assert_eq!(
            html_to_text("<p>x &bogus; &#0; &#x41;</p>"),
            "x &bogus; &#0; A"
        );
        assert_eq!(html_to_text("<p>unterminated <b"), "unterminated <b");
        assert_eq!(
            html_to_text("  line one  \n\n\n  line   two "),
            "line one\n\nline two"
        );
    }

    #[test]
    fn line_breaks_fold_without_stray_spaces_after_japanese() {
        assert_eq!(
            folded("お疲れ様です。佐藤です。\n12月1日から\n\nI am away\nuntil Monday."),
            "お疲れ様です。佐藤です。12月1日から I am away until Monday."
        );
        assert_eq!(folded("大阪\n出張"), "大阪出張");
        assert_eq!(folded("one"), "one");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(25_000_000), "25 MB");
        assert_eq!(human_size(1_500_000_000), "1.5 GB");
    }
}
