//! [`Fact`]: something the rules need to know that may not be known yet, because the directory
//! could not say now. One type for every such answer, so that "cannot tell now" is never spelled
//! as a `None` that could also mean "no" or "not applicable".

/// A fact the rules read: known, or not known yet. A tip that needs an unknown fact is neither
/// shown nor left out: it is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fact<T> {
    Known(T),
    /// The directory could not say now.
    Unknown,
}

impl<T> Fact<T> {
    /// Applies `f` to a known value; unknown stays unknown.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Fact<U> {
        match self {
            Fact::Known(v) => Fact::Known(f(v)),
            Fact::Unknown => Fact::Unknown,
        }
    }
}

impl Fact<bool> {
    /// Whether either holds: known true when either is known true (whatever the other), known
    /// false when both are known false, unknown otherwise.
    pub fn or(self, other: Fact<bool>) -> Fact<bool> {
        match (self, other) {
            (Fact::Known(true), _) | (_, Fact::Known(true)) => Fact::Known(true),
            (Fact::Known(false), Fact::Known(false)) => Fact::Known(false),
            _ => Fact::Unknown,
        }
    }
}

/// `None` is unknown: for inputs where absence means "not looked up" or "not computed yet".
impl<T> From<Option<T>> for Fact<T> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Fact::Unknown, Fact::Known)
    }
}

#[cfg(test)]
mod tests {
    use super::Fact::{self, Known, Unknown};

    #[test]
    fn or_is_true_when_either_is_known_true() {
        let all = [Known(true), Known(false), Unknown];
        for a in all {
            for b in all {
                let expected = if a == Known(true) || b == Known(true) {
                    Known(true)
                } else if a == Known(false) && b == Known(false) {
                    Known(false)
                } else {
                    Unknown
                };
                assert_eq!(a.or(b), expected, "{a:?} or {b:?}");
            }
        }
    }

    #[test]
    fn none_is_unknown() {
        assert_eq!(Fact::from(Some(3)), Known(3));
        assert_eq!(Fact::<u8>::from(None), Unknown);
        assert_eq!(Known(3).map(|n| n * 2), Known(6));
        assert_eq!(Fact::<u8>::Unknown.map(|n| n * 2), Unknown);
    }
}
