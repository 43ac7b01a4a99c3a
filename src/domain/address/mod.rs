//! SMTP addresses: parsing the addr-spec a client sends, and the normalised form used as a
//! directory key.
//!
//! Matching is case-insensitive on the domain always and, by default, on the local part too, so
//! an [`Address`] keeps both the normalised key and the text as given.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::LazyLock;

use bytestring::ByteString;

mod plain;

use plain::{ASCII_CLASS, ATEXT, Plain};

/// The longest address accepted, in bytes: a 64-byte local part, `@` and a 255-byte domain
/// (RFC 3696, section 3).
pub const MAX_ADDRESS_BYTES: usize = 320;
const MAX_LOCAL_BYTES: usize = 64;
const MAX_DOMAIN_BYTES: usize = 255;
const MAX_LABEL_BYTES: usize = 63;

/// A well-formed address, normalised for lookups.
///
/// It keeps its key's hash ([`key_hash`]), computed once when it is made: a draft's address is
/// hashed where it is parsed and nowhere after, though the batch lookup, the directory's table
/// and the draft-level rules' sets each look it up. Equality and order are the key's.
#[derive(Clone)]
pub struct Address {
    /// `local@domain` with the domain lower-cased, and the local part lower-cased unless
    /// local parts are case-sensitive. Shared storage, so that an address given in this form
    /// is the request's own bytes (see [`AddressRules::parse_normal`]).
    key: ByteString,
    /// [`key_hash`] of `key`.
    hash: u64,
    at: usize,
}

/// The hash of an address key (an [`Address::as_str`]): foldhash, seeded once per process,
/// so a directory's or a request's addresses cannot be chosen to collide.
pub fn key_hash(key: &str) -> u64 {
    static SEEDED: LazyLock<foldhash::fast::RandomState> = LazyLock::new(Default::default);
    SEEDED.hash_one(key)
}

impl PartialEq for Address {
    fn eq(&self, other: &Self) -> bool {
        // The hashes first: unequal addresses nearly always differ there, without reading
        // the keys' bytes.
        self.hash == other.hash && self.key == other.key
    }
}

impl Eq for Address {}

impl Hash for Address {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Address {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // The key alone, as equality: `at` follows from it (the domain has no `@`, so it is
        // the place of the last one).
        self.key.cmp(&other.key)
    }
}

/// Why an address is malformed; the text goes to clients as `InvalidRecipientData.detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address is empty")]
    Empty,
    #[error("address is longer than {MAX_ADDRESS_BYTES} bytes")]
    TooLong,
    #[error("missing '@'")]
    MissingAt,
    #[error("local part (before '@') is empty")]
    EmptyLocal,
    #[error("local part is longer than {MAX_LOCAL_BYTES} bytes")]
    LocalTooLong,
    #[error("local part has a character not allowed in an address: {0:?}")]
    BadLocalChar(char),
    #[error("local part has an empty dot-separated segment")]
    BadDots,
    #[error("domain is empty")]
    EmptyDomain,
    #[error("domain is longer than {MAX_DOMAIN_BYTES} bytes")]
    DomainTooLong,
    #[error("domain has an invalid label {0:?}")]
    BadDomainLabel(String),
    #[error("domain needs at least one dot")]
    DomainWithoutDot,
}

impl Address {
    /// The address whose key is `key`, with its `@` at `at`.
    fn new(key: ByteString, at: usize) -> Self {
        Self {
            hash: key_hash(&key),
            key,
            at,
        }
    }

    /// [`key_hash`] of this address's key, computed when it was made.
    pub fn key_hash(&self) -> u64 {
        self.hash
    }

    /// Parses an addr-spec (`local@domain`), ignoring surrounding whitespace.
    ///
    /// Accepts dot-atom local parts with UTF-8 (RFC 6531) and quoted local parts; domains of
    /// letters (any script), digits and hyphens; local parts compared without case, as
    /// [`AddressRules::default`]. Parse through the organisation's [`AddressRules`] wherever an
    /// address is compared with the directory.
    ///
    /// # Errors
    /// An [`AddressError`] saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, AddressError> {
        AddressRules::default().parse(raw)
    }

    fn parse_with(raw: &str, case_sensitive_local: bool) -> Result<Self, AddressError> {
        let s = raw.trim();
        match Self::parse_plain_ascii(s, case_sensitive_local) {
            Some(a) => Ok(a),
            None => Self::parse_general(s, case_sensitive_local),
        }
    }

    /// Any address, trimmed: checks each part, says what is wrong, and normalises.
    fn parse_general(s: &str, case_sensitive_local: bool) -> Result<Self, AddressError> {
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.len() > MAX_ADDRESS_BYTES {
            return Err(AddressError::TooLong);
        }
        let at = s.rfind('@').ok_or(AddressError::MissingAt)?;
        let (local, domain) = (&s[..at], &s[at + 1..]);
        check_local(local)?;
        check_domain(domain)?;
        // A quoted local part whose content needs no quoting is the same address as the
        // unquoted one (RFC 5322 section 3.4.1): `"hanako.sato"@x` is `hanako.sato@x`.
        let unquoted;
        let (s, at, local) = match needless_quotes(local) {
            Some(bare) => {
                unquoted = format!("{bare}@{domain}");
                (unquoted.as_str(), bare.len(), &unquoted[..bare.len()])
            }
            None => (s, at, local),
        };
        if s.is_ascii() {
            // The common case, without per-character Unicode case mapping (for ASCII,
            // `to_lowercase` is `to_ascii_lowercase`).
            return Ok(Self::ascii_key(s, at, case_sensitive_local));
        }
        let mut key = String::with_capacity(s.len());
        if case_sensitive_local {
            key.push_str(local);
        } else {
            key.extend(local.chars().flat_map(char::to_lowercase));
        }
        let at = key.len();
        key.push('@');
        key.extend(domain.chars().flat_map(char::to_lowercase));
        Ok(Self::new(owned(key), at))
    }

    /// The common case in one pass over the bytes: a valid ASCII address with an unquoted
    /// local part. `None` for anything else (non-ASCII, quoted, or invalid), which the general
    /// path then parses or refuses with its reason; so this accepts nothing the general path
    /// would refuse, and normalises alike (a unit test checks both on arbitrary input).
    fn parse_plain_ascii(s: &str, case_sensitive_local: bool) -> Option<Self> {
        let at = Plain::scan(s)?.at;
        Some(Self::ascii_key(s, at, case_sensitive_local))
    }

    /// The address of the valid ASCII text `s` whose `@` is at `at`: `s` in lower case, but
    /// for a case-sensitive local part.
    fn ascii_key(s: &str, at: usize, case_sensitive_local: bool) -> Self {
        let mut key = s.to_owned();
        key[folded(at, case_sensitive_local)].make_ascii_lowercase();
        Self::new(owned(key), at)
    }

    /// The normalised `local@domain`, owned (for maps keyed by text): the address's own
    /// allocation when it has one, a copy when its text is a slice of a request.
    pub fn into_key(self) -> Box<str> {
        String::from(self.key).into_boxed_str()
    }

    /// This address with a text of its own (a copy), apart from any buffer it is a slice of:
    /// for an address kept beyond its request (a cache key, a watch), which would otherwise
    /// keep the whole request body alive.
    #[must_use]
    pub fn detached(&self) -> Self {
        Self {
            key: ByteString::from(self.as_str()),
            ..*self
        }
    }

    /// The normalised `local@domain` in the address's own storage, not copied.
    pub fn into_text(self) -> ByteString {
        self.key
    }

    /// The normalised `local@domain` in the address's own storage.
    pub fn text(&self) -> &ByteString {
        &self.key
    }

    /// The normalised `local@domain`.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// The normalised local part.
    pub fn local(&self) -> &str {
        &self.key[..self.at]
    }

    /// The lower-cased domain.
    pub fn domain(&self) -> &str {
        &self.key[self.at + 1..]
    }
}

/// How the organisation compares addresses: domains always without case, local parts without
/// case unless configured otherwise. Owned by the [`crate::domain::Policy`] and handed to every
/// directory backend, so that a request's addresses and the directory's keys are normalised
/// alike (a mismatch would make lookups miss silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AddressRules {
    /// Keep the local part's case in the key.
    pub case_sensitive_local: bool,
}

impl AddressRules {
    /// Parses and normalises `raw` under these rules.
    ///
    /// # Errors
    /// An [`AddressError`] saying what is wrong.
    pub fn parse(self, raw: &str) -> Result<Address, AddressError> {
        Address::parse_with(raw, self.case_sensitive_local)
    }

    /// The address `raw` is, when `raw` is its normalised text already (a plain ASCII
    /// address, trimmed, in the case these rules compare in): `raw` itself becomes the
    /// address's text, not a copy, which is what an address sent from an address book costs.
    ///
    /// # Errors
    /// `raw` back when it is not that text (parse it with [`Self::parse`]).
    pub fn parse_normal(self, raw: ByteString) -> Result<Address, ByteString> {
        match Plain::scan(&raw) {
            Some(p) if !(p.upper_domain || p.upper_local && !self.case_sensitive_local) => {
                Ok(Address::new(raw, p.at))
            }
            _ => Err(raw),
        }
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", self.key)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

fn check_local(local: &str) -> Result<(), AddressError> {
    if local.is_empty() {
        return Err(AddressError::EmptyLocal);
    }
    if local.len() > MAX_LOCAL_BYTES {
        return Err(AddressError::LocalTooLong);
    }
    if local.len() >= 2 && local.starts_with('"') && local.ends_with('"') {
        // Quoted string: printable characters, with `\` escaping `"` and `\`.
        let inner = &local[1..local.len() - 1];
        let mut escaped = false;
        for c in inner.chars() {
            if c.is_control() {
                return Err(AddressError::BadLocalChar(c));
            }
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                return Err(AddressError::BadLocalChar(c));
            }
        }
        return if escaped {
            Err(AddressError::BadLocalChar('\\'))
        } else {
            Ok(())
        };
    }
    for segment in local.split('.') {
        if segment.is_empty() {
            return Err(AddressError::BadDots);
        }
        if let Some(c) = segment.chars().find(|&c| !is_atext(c)) {
            return Err(AddressError::BadLocalChar(c));
        }
    }
    Ok(())
}

/// The content of a quoted local part (escapes removed) when it is a dot-atom that needs no
/// quotes; `None` for an unquoted local part or one that needs its quotes.
fn needless_quotes(local: &str) -> Option<String> {
    let inner = local.strip_prefix('"')?.strip_suffix('"')?;
    let mut bare = String::with_capacity(inner.len());
    let mut escaped = false;
    for c in inner.chars() {
        if !escaped && c == '\\' {
            escaped = true;
            continue;
        }
        escaped = false;
        bare.push(c);
    }
    let dot_atom = !bare.is_empty()
        && bare
            .split('.')
            .all(|seg| !seg.is_empty() && seg.chars().all(is_atext));
    dot_atom.then_some(bare)
}

/// `key` as an address's storage: boxed first, so that the shared buffer is the string's own
/// allocation, without a second one for its reference count until it is shared.
fn owned(key: String) -> ByteString {
    ByteString::from(key.into_boxed_str())
}

/// The part of an address with its `@` at `at` that is compared without case: all of it, or
/// only the domain when local parts are case-sensitive.
fn folded(at: usize, case_sensitive_local: bool) -> std::ops::RangeFrom<usize> {
    if case_sensitive_local { at + 1.. } else { 0.. }
}

/// RFC 5322 `atext`, extended with non-ASCII characters (RFC 6531) other than controls and
/// white space.
fn is_atext(c: char) -> bool {
    match u8::try_from(c) {
        Ok(b) if b.is_ascii() => ASCII_CLASS[usize::from(b)] & ATEXT != 0,
        _ => !c.is_control() && !c.is_whitespace(),
    }
}

fn check_domain(domain: &str) -> Result<(), AddressError> {
    if domain.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    if domain.len() > MAX_DOMAIN_BYTES {
        return Err(AddressError::DomainTooLong);
    }
    if !domain.contains('.') {
        return Err(AddressError::DomainWithoutDot);
    }
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= MAX_LABEL_BYTES
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-');
        if !ok {
            return Err(AddressError::BadDomainLabel(
                label.chars().take(64).collect(),
            ));
        }
    }
    Ok(())
}

/// Whether `domain` is `rule` or, when `include_subdomains`, ends in `.rule` (a dot
/// boundary, never a plain suffix).
pub fn domain_matches(domain: &str, rule: &str, include_subdomains: bool) -> bool {
    domain == rule
        || (include_subdomains
            && domain.len() > rule.len()
            && domain.ends_with(rule)
            && domain.as_bytes()[domain.len() - rule.len() - 1] == b'.')
}

#[cfg(test)]
mod tests;
