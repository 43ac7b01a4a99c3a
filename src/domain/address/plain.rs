//! The one-pass parse of a plain ASCII address (a dot-atom local part, letters, digits and
//! hyphens in the domain), which nearly every address a client sends is: sixteen bytes at a
//! time where it can, a byte loop where it cannot.

use super::{MAX_ADDRESS_BYTES, MAX_DOMAIN_BYTES, MAX_LABEL_BYTES, MAX_LOCAL_BYTES};

/// The longest address [`Plain::scan`] tells sixteen bytes at a time: one bit per byte in a
/// `u64`. (Its domain is shorter than a label may be.)
#[cfg(target_arch = "x86_64")]
pub(super) const COMMON_BYTES: usize = 64;

/// What one scan of a plain ASCII address (a dot-atom local part, letters, digits and hyphens
/// in the domain) found: where its `@` is, and which parts have upper-case letters.
#[cfg_attr(test, derive(Debug, PartialEq))]
pub(super) struct Plain {
    pub(super) at: usize,
    pub(super) upper_local: bool,
    pub(super) upper_domain: bool,
}

impl Plain {
    /// Scans `s`; `None` when it is not a valid plain ASCII address (non-ASCII, quoted, or
    /// invalid). The common shape is told sixteen bytes at a time ([`Self::scan_common`]);
    /// every other text byte by byte ([`Self::scan_bytes`]).
    pub(super) fn scan(s: &str) -> Option<Self> {
        #[cfg(target_arch = "x86_64")]
        if let Some(p) = Self::scan_common(s.as_bytes()) {
            return Some(p);
        }
        Self::scan_bytes(s)
    }

    /// The address of the shape nearly every address has, told sixteen bytes at a time: at
    /// most [`COMMON_BYTES`] long, one `@`, a local part of letters, digits, `.`, `-`, `_`
    /// and `+`. Each class of byte becomes a mask with a bit per byte (SSE2, which every
    /// x86_64 CPU has), and the rules about neighbours are shifts of those masks. `None` when
    /// `b` is not such an address, valid or not: [`Self::scan_bytes`] decides those.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn scan_common(b: &[u8]) -> Option<Self> {
        let len = b.len();
        if len == 0 || len > COMMON_BYTES {
            return None;
        }
        let mut padded = [0u8; COMMON_BYTES];
        padded[..len].copy_from_slice(b);
        // SAFETY: SSE2 is part of x86_64: every CPU this code runs on has it.
        let Classes {
            alnum,
            upper,
            dot,
            hyphen,
            at,
            also_local,
        } = unsafe { Classes::of(&padded, len.div_ceil(16)) };
        let all = u64::MAX >> (64 - len);
        if at.count_ones() != 1 {
            return None;
        }
        let at_index = at.trailing_zeros() as usize;
        let local = at - 1;
        let domain = all & !local & !at;
        if at_index == 0 || domain == 0 {
            return None;
        }
        // Dot-atom: only the classes above, no dot first, last, or after a dot.
        let local_dots = dot & local;
        if local & !(alnum | dot | hyphen | also_local) != 0
            || local_dots & (1 | at >> 1) != 0
            || local_dots & (local_dots << 1) != 0
        {
            return None;
        }
        // Labels of letters, digits and hyphens, none empty, no hyphen at either end; at least
        // one dot. (No label can be too long: the whole domain is shorter than one may be.)
        let (dots, hyphens) = (dot & domain, hyphen & domain);
        let ends = at << 1 | 1 << (len - 1);
        if domain & !(alnum | dots | hyphens) != 0
            || (dots | hyphens) & ends != 0
            || (dots << 1) & (dots | hyphens) != 0
            || (hyphens << 1) & dots != 0
            || dots == 0
        {
            return None;
        }
        Some(Self {
            at: at_index,
            upper_local: upper & local != 0,
            upper_domain: upper & domain != 0,
        })
    }

    /// [`Self::scan`] for any text. Each part is one loop without a branch per byte: every
    /// byte's class is looked up in [`ASCII_CLASS`] and folded into what the part needs
    /// (every byte allowed, no two neighbours that may not meet), and decided once at the
    /// part's end. Addresses differ in length and shape, so a branch per byte was
    /// mispredicted at every exit.
    pub(super) fn scan_bytes(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() > MAX_ADDRESS_BYTES {
            return None;
        }
        let at = memchr::memrchr(b'@', b)?;
        let (local, domain) = (&b[..at], &b[at + 1..]);
        if local.is_empty()
            || local.len() > MAX_LOCAL_BYTES
            || domain.is_empty()
            || domain.len() > MAX_DOMAIN_BYTES
        {
            return None;
        }
        // Dot-atom: atext segments, none empty (so no dot first, last, or after a dot).
        let (mut all, mut any, mut bad, mut prev) = (u8::MAX, 0, false, DOT);
        for &c in local {
            let k = ASCII_CLASS[usize::from(c)];
            (all, any) = (all & k, any | k);
            bad |= prev & k & DOT != 0;
            prev = k;
        }
        if all & IN_LOCAL == 0 || bad || prev & DOT != 0 {
            return None;
        }
        let upper_local = any & UPPER != 0;
        // Labels of letters, digits and hyphens, none empty, no hyphen at either end of one
        // (so no dot or hyphen first or after a dot, no dot after a hyphen, nor either last);
        // at least one dot.
        let (mut all, mut any, mut bad, mut prev) = (u8::MAX, 0, false, DOT);
        for &c in domain {
            let k = ASCII_CLASS[usize::from(c)];
            (all, any) = (all & k, any | k);
            bad |= (prev & DOT != 0) & (k & (DOT | HYPHEN) != 0)
                | (prev & HYPHEN != 0) & (k & DOT != 0);
            prev = k;
        }
        if all & IN_DOMAIN == 0 || bad || prev & (DOT | HYPHEN) != 0 || any & DOT == 0 {
            return None;
        }
        // Only a domain longer than a label can hold one too long.
        if domain.len() > MAX_LABEL_BYTES
            && domain
                .split(|&c| c == b'.')
                .any(|label| label.len() > MAX_LABEL_BYTES)
        {
            return None;
        }
        Some(Self {
            at,
            upper_local,
            upper_domain: any & UPPER != 0,
        })
    }
}

/// Which bytes of an address are of each class [`Plain::scan_common`] tells apart: bit `i` for
/// byte `i`.
#[cfg(target_arch = "x86_64")]
struct Classes {
    /// ASCII letters and digits.
    alnum: u64,
    upper: u64,
    dot: u64,
    hyphen: u64,
    at: u64,
    /// `_` and `+`, which local parts often have.
    also_local: u64,
}

#[cfg(target_arch = "x86_64")]
impl Classes {
    /// The classes of the first `chunks` sixteen bytes of `bytes`. Zeros and non-ASCII bytes
    /// (negative as `i8`) are in none.
    #[target_feature(enable = "sse2")]
    fn of(bytes: &[u8; COMMON_BYTES], chunks: usize) -> Self {
        use std::arch::x86_64::{
            __m128i, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmpgt_epi8, _mm_cmplt_epi8,
            _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8,
        };
        let mut c = Self {
            alnum: 0,
            upper: 0,
            dot: 0,
            hyphen: 0,
            at: 0,
            also_local: 0,
        };
        for (i, chunk) in bytes.chunks_exact(16).take(chunks).enumerate() {
            let half = |from: usize| {
                let mut eight = [0; 8];
                eight.copy_from_slice(&chunk[from..from + 8]);
                i64::from_le_bytes(eight)
            };
            let v = _mm_set_epi64x(half(8), half(0));
            let bits =
                |m: __m128i| u64::from(_mm_movemask_epi8(m).cast_unsigned() & 0xffff) << (16 * i);
            let eq = |b: u8| bits(_mm_cmpeq_epi8(v, _mm_set1_epi8(b.cast_signed())));
            let within = |lo: u8, hi: u8| {
                bits(_mm_and_si128(
                    _mm_cmpgt_epi8(v, _mm_set1_epi8((lo - 1).cast_signed())),
                    _mm_cmplt_epi8(v, _mm_set1_epi8((hi + 1).cast_signed())),
                ))
            };
            let upper = within(b'A', b'Z');
            c.upper |= upper;
            c.alnum |= upper | within(b'a', b'z') | within(b'0', b'9');
            c.dot |= eq(b'.');
            c.hyphen |= eq(b'-');
            c.at |= eq(b'@');
            c.also_local |= eq(b'_') | eq(b'+');
        }
        c
    }
}

/// What a byte is to the plain-ASCII parse, looked up in [`ASCII_CLASS`]: `atext`; allowed in a
/// dot-atom local part (`atext` and the dot); allowed in a domain (a label's letters, digits
/// and hyphen, and the dot); the dot; the hyphen; an upper-case letter. Non-ASCII bytes are
/// none of these.
pub(super) const ATEXT: u8 = 1;
const IN_LOCAL: u8 = 2;
const IN_DOMAIN: u8 = 4;
const DOT: u8 = 8;
const HYPHEN: u8 = 16;
const UPPER: u8 = 32;
pub(super) const ASCII_CLASS: [u8; 256] = {
    let mut class = [0; 256];
    let mut c = 0;
    while c < 128 {
        let b = c as u8;
        if is_ascii_atext(b) {
            class[c] |= ATEXT | IN_LOCAL;
        }
        if b.is_ascii_alphanumeric() || b == b'-' {
            class[c] |= IN_DOMAIN;
        }
        if b == b'.' {
            class[c] |= DOT | IN_LOCAL | IN_DOMAIN;
        }
        if b == b'-' {
            class[c] |= HYPHEN;
        }
        if b.is_ascii_uppercase() {
            class[c] |= UPPER;
        }
        c += 1;
    }
    class
};

/// RFC 5322 `atext`, ASCII only.
const fn is_ascii_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'/'
                | b'='
                | b'?'
                | b'^'
                | b'_'
                | b'`'
                | b'{'
                | b'|'
                | b'}'
                | b'~'
        )
}
