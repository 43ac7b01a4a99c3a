//! The settings of the tips beyond Exchange (whole audience, visible recipients, read
//! receipts, sent on behalf): the read-receipt table and the checks of these keys.

use serde::Deserialize;

use super::Config;
use crate::domain::ReceiptPolicy;

/// `[org.read_receipts]`: the organisation's read-receipt policy and its allow-list.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReadReceiptsConfig {
    /// `none`, `internal_and_allowlist` or `all` (default).
    pub policy: ReceiptPolicy,
    /// Outside addresses that get receipts under `internal_and_allowlist`: at most
    /// [`MAX_RECEIPT_ALLOWLIST`] addresses of at most [`MAX_RECEIPT_ADDRESS_CHARS`] characters.
    pub allowlist: Vec<String>,
}

/// The most addresses `org.read_receipts.allowlist` may hold.
pub const MAX_RECEIPT_ALLOWLIST: usize = 100;
/// The longest address in `org.read_receipts.allowlist`, in characters.
pub const MAX_RECEIPT_ADDRESS_CHARS: usize = 256;

impl Config {
    /// The settings of the tips beyond Exchange: thresholds and the read-receipt allow-list.
    pub(super) fn validate_beyond_exchange(&self) -> Result<(), (&'static str, String)> {
        let org = &self.org;
        if org.visible_recipients_threshold < 1 {
            return Err((
                "org.visible_recipients_threshold",
                "must be at least 1".into(),
            ));
        }
        let receipts = &org.read_receipts;
        let key = "org.read_receipts.allowlist";
        if !receipts.allowlist.is_empty() && receipts.policy != ReceiptPolicy::InternalAndAllowlist
        {
            return Err((
                key,
                "is read only with policy = \"internal_and_allowlist\"".into(),
            ));
        }
        if receipts.allowlist.len() > MAX_RECEIPT_ALLOWLIST {
            return Err((
                key,
                format!(
                    "{} addresses is more than the maximum of {MAX_RECEIPT_ALLOWLIST}",
                    receipts.allowlist.len()
                ),
            ));
        }
        for (i, a) in receipts.allowlist.iter().enumerate() {
            let shown: String = a.chars().take(40).collect();
            if a.chars().count() > MAX_RECEIPT_ADDRESS_CHARS {
                return Err((
                    key,
                    format!(
                        "[{i}] ({shown:?}…) is longer than {MAX_RECEIPT_ADDRESS_CHARS} characters"
                    ),
                ));
            }
            if let Err(e) = self.address_rules().parse(a) {
                return Err((key, format!("[{i}] {shown:?} is not an address: {e}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::ConfigError;
    use crate::domain::TipKind;

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::from_toml(s, Path::new("test.toml"))
    }

    const MIN: &str = "[org]\ninternal_domains = [{ domain = \"contoso.com\" }]\n";

    #[test]
    fn beyond_exchange_settings() {
        let c = parse(MIN).unwrap();
        let p = c.policy();
        assert_eq!(p.whole_audience_threshold, 25);
        assert_eq!(p.visible_recipients_threshold, 15);
        assert_eq!(p.read_receipts, ReceiptPolicy::All);
        assert!(!p.per_user_outbound_gateways);
        for k in [TipKind::WholeAudience, TipKind::ForwardedExternally] {
            assert!(p.enabled.contains(k));
        }
        let c = parse(&format!(
            "{MIN}large_audience_threshold = 40\n[tips]\nsent_on_behalf = false\n"
        ))
        .unwrap();
        assert_eq!(c.policy().whole_audience_threshold, 40);
        assert!(!c.policy().enabled.contains(TipKind::SentOnBehalf));
        let rr = |body: &str| parse(&format!("{MIN}[org.read_receipts]\n{body}"));
        let c = rr("policy = \"internal_and_allowlist\"\nallowlist = [\"Boss@Partner.example\"]\n")
            .unwrap();
        assert_eq!(
            c.policy().receipt_allowlist[0].as_str(),
            "boss@partner.example"
        );
        let err = |body: &str| rr(body).unwrap_err().to_string();
        let e = err("policy = \"sometimes\"\n");
        assert!(e.contains("unknown variant `sometimes`"), "{e}");
        let e = err("policy = \"all\"\nallowlist = [\"a@b.example\"]\n");
        assert!(
            e.contains("org.read_receipts.allowlist: is read only"),
            "{e}"
        );
        let many: Vec<String> = (0..101).map(|i| format!("\"u{i}@b.example\"")).collect();
        let e = err(&format!(
            "policy = \"internal_and_allowlist\"\nallowlist = [{}]\n",
            many.join(",")
        ));
        assert!(
            e.contains("101 addresses is more than the maximum of 100"),
            "{e}"
        );
        let long = format!("{}@{}.example", "a".repeat(60), "b".repeat(200));
        let e = err(&format!(
            "policy = \"internal_and_allowlist\"\nallowlist = [\"{long}\"]\n"
        ));
        assert!(
            e.contains("[0]") && e.contains("longer than 256 characters"),
            "{e}"
        );
        let e = err("policy = \"internal_and_allowlist\"\nallowlist = [\"nope\"]\n");
        assert!(e.contains("[0] \"nope\" is not an address"), "{e}");
        let e = parse(&format!("{MIN}visible_recipients_threshold = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("org.visible_recipients_threshold"), "{e}");
    }
}
