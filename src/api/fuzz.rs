//! Property-based tests (proptest) over everything that reads untrusted input: the address
//! parser, HTML-to-text, the directory file loader, and the whole request path (a request →
//! validation → evaluation over the demo organisation → protobuf). None may panic, and every
//! answer keeps the documented limits: no text over 1,000 characters, one result per
//! recipient, in the request's order.
//!
//! The test command runs a bounded number of cases (a few seconds in a debug build). For a
//! long run set `PROPTEST_CASES`, e.g.
//! `PROPTEST_CASES=20000 cargo test --release --lib api::fuzz`.

use std::sync::{Arc, LazyLock};

use proptest::prelude::*;
use prost::Message as _;

use crate::api::answer::Answer;
use crate::api::grpc::{RequestLimits, draft_from_request, response_from_evaluation};
use crate::api::pb;
use crate::api::request::GetMailTipsRequest;
use crate::config::Config;
use crate::directory::FileDirectory;
use crate::directory::file::Snapshot;
use crate::domain::DraftRecipient;
use crate::domain::address::{Address, AddressRules, MAX_ADDRESS_BYTES};
use crate::domain::text::{MAX_TEXT_CHARS, PREVIEW_CHARS, html_to_text};
use crate::metrics::MetricsStore;
use crate::service::MailTips;

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        // Failures are reported with their minimal input; nothing is written to the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const DEMO_DIRECTORY: &str = include_str!("../../examples/demo-directory.toml");

/// Addresses of the demo organisation, and near misses.
const KNOWN: &[&str] = &[
    "taro.yamada@contoso.com",
    "hanako.sato@contoso.com",
    "kenji.suzuki@contoso.com",
    "yuki.ito@contoso.com",
    "akiko.tanaka@contoso.com",
    "hr@contoso.com",
    "helpdesk@contoso.com",
    "board@contoso.com",
    "executives@contoso.com",
    "legal@contoso.com",
    "all-staff@contoso.com",
    "announcements@contoso.com",
    "partners@contoso.com",
    "john.smith@partner.example",
    "staff07@contoso.com",
    "TARO.YAMADA@CONTOSO.COM",
    "nobody@contoso.com",
    "someone@elsewhere.example",
];

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KNOWN).prop_map(str::to_owned),
        2 => "[a-zA-Z0-9._+-]{0,12}@[a-z0-9.-]{0,12}(\\.com|\\.jp|\\.example)?",
        1 => ".{0,40}",
        1 => "[a-z]{60,80}@[a-z]{250,260}\\.com",
        1 => Just(String::new()),
    ]
}

fn request() -> impl Strategy<Value = pb::GetMailTipsRequest> {
    let recipient =
        (address(), -1i32..5).prop_map(|(address, field)| pb::Recipient { address, field });
    let reply_all = proptest::option::of(
        (
            proptest::collection::vec(address(), 0..6),
            proptest::collection::vec(address(), 0..6),
        )
            .prop_map(|(original_to, original_cc)| pb::ReplyAllContext {
                original_to,
                original_cc,
            }),
    );
    (
        address(),
        proptest::collection::vec(recipient, 0..30),
        prop_oneof![Just(0u64), any::<u64>(), 0u64..50_000_000],
        reply_all,
        proptest::collection::vec(-1i32..18, 0..4),
        prop_oneof![
            proptest::sample::select(&["", "en", "ja", "ja-JP", "en-GB", "fr"][..])
                .prop_map(str::to_owned),
            ".{0,12}",
        ],
        any::<bool>(),
    )
        .prop_map(
            |(
                sender,
                recipients,
                message_size_bytes,
                reply_all,
                tip_kinds,
                locale,
                read_receipt_requested,
            )| {
                pb::GetMailTipsRequest {
                    sender,
                    recipients,
                    message_size_bytes,
                    reply_all,
                    tip_kinds,
                    locale,
                    read_receipt_requested,
                }
            },
        )
}

/// The demo organisation behind the request path, with its group metrics computed, and a
/// runtime to evaluate on.
struct Demo {
    tips: MailTips<Arc<FileDirectory>>,
    limits: RequestLimits,
    runtime: tokio::runtime::Runtime,
}

static DEMO: LazyLock<Demo> = LazyLock::new(|| {
    let config = Config::from_toml(
        include_str!("../../examples/mailtips.toml"),
        std::path::Path::new("mailtips.toml"),
    )
    .expect("the example config");
    let policy = config.policy();
    let directory = Arc::new(FileDirectory::demo(config.address_rules()));
    let metrics = Arc::new(MetricsStore::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    runtime
        .block_on(metrics.refresh(&directory))
        .expect("demo metrics");
    Demo {
        limits: RequestLimits {
            max_recipients: config.org.max_recipients_per_request.get() as usize,
            addresses: policy.addresses,
        },
        tips: MailTips::new(directory, metrics, policy),
        runtime,
    }
});

fn chars(s: &str) -> usize {
    s.chars().count()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn addresses_parse_without_panic_and_normalise_once(raw in prop_oneof![address(), ".*"]) {
        if let Ok(a) = Address::parse(&raw) {
            prop_assert!(a.as_str().len() <= MAX_ADDRESS_BYTES);
            prop_assert_eq!(format!("{}@{}", a.local(), a.domain()), a.as_str());
            // The normal form is a fixed point.
            let again = Address::parse(a.as_str());
            prop_assert_eq!(again.as_ref(), Ok(&a));
        }
        let sensitive = AddressRules { case_sensitive_local: true };
        let _ = sensitive.parse(&raw);
        // A draft's recipients parse alike without the copy, and keep the text as given.
        for rules in [AddressRules::default(), sensitive] {
            let r = DraftRecipient::new(raw.as_str().into(), crate::domain::Field::To, rules);
            let parsed = rules.parse(&raw);
            prop_assert_eq!(r.address(), parsed.as_ref());
            prop_assert_eq!(r.raw(), raw.as_str());
            prop_assert_eq!(&*r.clone().into_raw(), raw.as_str());
            // And the same apart from the buffer it came in.
            let detached = r.detached();
            prop_assert_eq!(detached.address(), parsed.as_ref());
            prop_assert_eq!(detached.raw(), raw.as_str());
        }
    }

    #[test]
    fn html_to_text_never_panics_nor_grows(html in prop_oneof![
        ".{0,200}",
        proptest::collection::vec(prop_oneof![
            Just("<p>"), Just("</p>"), Just("<br/>"), Just("<script>"), Just("</script>"),
            Just("<style>x</style>"), Just("<!--"), Just("-->"), Just("&amp;"), Just("&#x1F600;"),
            Just("&#99999999;"), Just("&bogus;"), Just("<"), Just(">"), Just(" \n\t "),
            Just("text"), Just("日本語"), Just("<div class=\"a>b\">"), Just("&#"), Just("&"),
        ], 0..40).prop_map(|parts| parts.concat()),
    ]) {
        let text = html_to_text(&html);
        prop_assert!(chars(&text) <= chars(&html), "{:?} -> {:?}", html, text);
    }

    #[test]
    fn directory_files_load_or_are_refused_without_panic(
        cut in 0..DEMO_DIRECTORY.len(),
        len in 0usize..200,
        insert in ".{0,30}",
        junk in ".{0,300}",
    ) {
        // A mutation of the demo directory: a range replaced by random text (at a character
        // boundary), and text that is not TOML at all.
        let start = (0..=cut).rev().find(|&i| DEMO_DIRECTORY.is_char_boundary(i)).unwrap_or(0);
        let end = (start + len..=DEMO_DIRECTORY.len())
            .find(|&i| DEMO_DIRECTORY.is_char_boundary(i))
            .unwrap_or(DEMO_DIRECTORY.len());
        let mutated = format!("{}{insert}{}", &DEMO_DIRECTORY[..start], &DEMO_DIRECTORY[end..]);
        for text in [mutated.as_str(), junk.as_str()] {
            if let Err(e) = Snapshot::parse(text, "fuzz.toml", AddressRules::default()) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// The server's request decoder (`api::request`) reads any body as prost's generated one
    /// does: the same request, or an error for the same bodies. The one difference is meant:
    /// an address that is not UTF-8 decodes, and validation refuses it by name (or never sees
    /// it, when a later address of the same recipient replaces it).
    #[test]
    fn the_request_decoder_agrees_with_prosts(
        req in request(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        // A valid body, then a few bytes changed, inserted or removed, and maybe cut short.
        let mut body = req.encode_to_vec();
        for (at, byte, how) in edits {
            let i = at.index(body.len() + 1);
            match how {
                0 if i < body.len() => body[i] = byte,
                1 => body.insert(i, byte),
                _ if i < body.len() => { body.remove(i); }
                _ => {}
            }
        }
        if truncate {
            body.truncate(cut.index(body.len() + 1));
        }
        let ours = GetMailTipsRequest::decode(bytes::Bytes::from(body.clone()));
        let prosts = pb::GetMailTipsRequest::decode(body.as_slice());
        match (ours, prosts) {
            (Ok(ours), Ok(prosts)) => prop_assert_eq!(ours, GetMailTipsRequest::from(prosts)),
            (Err(_), Err(_)) => {}
            (Ok(_), Err(e)) => prop_assert!(
                crate::api::request::tests::is_address_utf8_error(&e),
                "prost refused what we decoded: {}", e
            ),
            (Err(e), Ok(_)) => prop_assert!(false, "we refused what prost decoded: {}", e),
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn any_request_is_refused_by_field_or_answered_within_the_limits(req in request()) {
        let demo = &*DEMO;
        let raw: Vec<String> = req.recipients.iter().map(|r| r.address.clone()).collect();
        // As the server decodes it: from the body's bytes, its addresses slices of them.
        let body = bytes::Bytes::from(req.encode_to_vec());
        let decoded = GetMailTipsRequest::decode(body.clone()).unwrap();
        prop_assert_eq!(&decoded, &GetMailTipsRequest::from(req));
        for r in &decoded.recipients {
            prop_assert!(r.address.is_empty() || body.as_ptr_range().contains(&r.address.as_ptr()));
        }
        let draft = match draft_from_request(decoded, demo.limits) {
            Ok(d) => d,
            Err(e) => {
                prop_assert!(!e.field.is_empty() && !e.description.is_empty());
                return Ok(());
            }
        };
        let evaluation = demo.runtime.block_on(demo.tips.evaluate(&draft));
        prop_assert_eq!(evaluation.recipients.len(), draft.recipients.len());
        // What the server sends, encoded straight from the evaluation.
        let answer = Answer::new(evaluation.clone(), raw.iter().map(|a| a.as_str().into()));
        let resp = response_from_evaluation(evaluation, draft.recipients.into_iter().map(DraftRecipient::into_raw));
        // One result per recipient, in order.
        let answered: Vec<&str> = resp.recipients.iter().map(|r| r.address.as_str()).collect();
        prop_assert_eq!(answered, raw.iter().map(String::as_str).collect::<Vec<_>>());
        for tip in resp.recipients.iter().flat_map(|r| &r.tips).chain(&resp.draft_tips) {
            prop_assert!(chars(&tip.text) <= MAX_TEXT_CHARS, "{} chars: {:?}", chars(&tip.text), tip);
            if let Some(pb::mail_tip::Data::AutoReply(a)) = &tip.data {
                prop_assert!(chars(&a.message) <= MAX_TEXT_CHARS);
                prop_assert!(chars(&a.preview) <= PREVIEW_CHARS);
            }
            if let Some(pb::mail_tip::Data::InvalidRecipient(i)) = &tip.data {
                prop_assert!(chars(&i.address) <= MAX_ADDRESS_BYTES);
            }
        }
        // It encodes, and decodes to the same.
        let bytes = resp.encode_to_vec();
        prop_assert_eq!(pb::GetMailTipsResponse::decode(bytes.as_slice()).unwrap(), resp);
        // The server's answer is these same bytes.
        prop_assert_eq!(answer.encoded_len(), bytes.len());
        prop_assert_eq!(answer.encode_to_vec(), bytes);
    }
}
