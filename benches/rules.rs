//! Criterion benches of the request path below gRPC, per recipient (`Throughput::Elements`):
//! the pure rules for 1, 10, 200 and 1,000-recipient drafts; the whole warm evaluation (batch
//! lookup in the loaded directory, metrics from cache, rules: the cache-hit path); request
//! validation with address parsing; and the answer, made from the evaluation and encoded.
//!
//! LDAP filter building is benched with the LDAP backend, not here. The directory is a
//! synthetic one (`mailtips gen-directory`), 20,000 mailboxes and 2,000 groups; the batch
//! lookup is benched in a 100,000-mailbox one too, with its entries mostly out of the caches.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mailtips::api::answer::Answer;
use mailtips::api::grpc::{RequestLimits, draft_from_request};
use mailtips::api::request::GetMailTipsRequest;
use mailtips::config::Config;
use mailtips::directory::file::Snapshot;
use mailtips::directory::{Directory, FileDirectory, GroupSource};
use mailtips::domain::Lookup;
use mailtips::domain::address::Address;
use mailtips::domain::rules::{self, RecipientFacts, SenderFacts};
use mailtips::domain::{Draft, EntryKind};
use mailtips::metrics::MetricsStore;
use mailtips::service::MailTips;
use mailtips::tools::load::{AddressBook, DraftMix};
use mailtips::tools::synth::{self, GenParams};

const SIZES: [usize; 4] = [1, 10, 200, 1000];

struct Fixture {
    directory: Arc<FileDirectory>,
    book: AddressBook,
    config: Config,
    metrics: Arc<MetricsStore>,
    rt: tokio::runtime::Runtime,
}

fn fixture() -> Fixture {
    let (text, _) = synth::generate(&GenParams {
        mailboxes: 20_000,
        groups: 2_000,
        seed: 1,
    });
    let snapshot = Snapshot::parse(&text, "<generated>", Default::default()).unwrap();
    let book = AddressBook::from_snapshot(&snapshot);
    let directory = Arc::new(FileDirectory::from_snapshot(snapshot));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let metrics = Arc::new(MetricsStore::default());
    rt.block_on(metrics.refresh(&directory)).unwrap();
    let config = Config::from_toml(
        "[org]\nexternal_recipient_tips = true\nmax_message_size = \"25MB\"\n\
         internal_domains = [{ domain = \"contoso.com\", include_subdomains = true }]\n",
        std::path::Path::new("<bench>"),
    )
    .unwrap();
    Fixture {
        directory,
        book,
        config,
        metrics,
        rt,
    }
}

fn limits() -> RequestLimits {
    RequestLimits {
        max_recipients: 1000,
        addresses: Default::default(),
    }
}

fn draft(f: &Fixture, n: usize) -> (mailtips::pb::GetMailTipsRequest, Draft) {
    let request = f
        .book
        .drafts(&DraftMix {
            recipients: n,
            pool: 1,
            // 12 MB trips the generated 10 MB receive limits, so size tips are in the mix.
            message_size: 12 << 20,
            ..DraftMix::default()
        })
        .unwrap()
        .remove(0);
    let draft = draft_from_request(request.clone().into(), limits()).unwrap();
    (request, draft)
}

/// The facts the service would resolve for `draft`, resolved once up front.
fn facts(f: &Fixture, draft: &Draft) -> (SenderFacts, Vec<RecipientFacts<'static>>) {
    let lookup = |a: &Address| match f.rt.block_on(f.directory.lookup(&[a])).remove(0) {
        Lookup::Found(e) => Some(e),
        _ => None,
    };
    let sender_entry = lookup(&draft.sender);
    let groups = sender_entry
        .as_ref()
        .map(|e| f.rt.block_on(f.directory.member_of(&e.id)).unwrap());
    let recipients = draft
        .recipients
        .iter()
        .map(|r| {
            let resolution = match r.address() {
                Ok(a) => lookup(a).map_or(Lookup::NotFound, Lookup::Found),
                Err(_) => Lookup::NotFound,
            };
            let metrics = match &resolution {
                Lookup::Found(e) if e.kind == EntryKind::Group => f.metrics.get(&e.id),
                _ => None,
            };
            RecipientFacts {
                resolution: std::borrow::Cow::Owned(resolution),
                metrics,
            }
        })
        .collect();
    (
        SenderFacts {
            entry: sender_entry,
            lookup_failed: false,
            groups,
        },
        recipients,
    )
}

fn benches(c: &mut Criterion) {
    let f = fixture();
    let policy = f.config.policy();
    let now = SystemTime::now();

    let mut g = c.benchmark_group("rules_evaluate");
    for n in SIZES {
        let (_, draft) = draft(&f, n);
        let (sender, recipients) = facts(&f, &draft);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| rules::evaluate(&policy, black_box(&draft), &sender, &recipients, now))
        });
    }
    g.finish();

    // The cache-hit path: everything in memory (loaded directory, computed metrics).
    let service = MailTips::new(f.directory.clone(), f.metrics.clone(), policy.clone());
    let mut g = c.benchmark_group("service_evaluate_warm");
    for n in SIZES {
        let (_, draft) = draft(&f, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| f.rt.block_on(service.evaluate(black_box(&draft))))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("grpc_edge");
    for n in [10usize, 200] {
        let (request, draft) = draft(&f, n);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("draft_from_request", n), &n, |b, _| {
            b.iter_batched(
                || GetMailTipsRequest::from(request.clone()),
                |r| draft_from_request(r, limits()).unwrap(),
                criterion::BatchSize::SmallInput,
            )
        });
        // As the server receives it: the body's bytes, decoded by the server's decoder.
        let body = bytes::Bytes::from(prost::Message::encode_to_vec(&request));
        g.bench_with_input(BenchmarkId::new("decoded_and_validated", n), &n, |b, _| {
            b.iter_batched(
                || body.clone(),
                |body| {
                    let r: GetMailTipsRequest = prost::Message::decode(body).unwrap();
                    draft_from_request(r, limits()).unwrap()
                },
                criterion::BatchSize::SmallInput,
            )
        });
        let evaluation = f.rt.block_on(service.evaluate(&draft));
        g.bench_with_input(BenchmarkId::new("answer_encoded", n), &n, |b, _| {
            b.iter_batched(
                || {
                    let raw = draft.recipients.iter().map(|r| r.raw().into());
                    (evaluation.clone(), raw.collect::<Vec<_>>())
                },
                |(e, raw)| prost::Message::encode_to_vec(&Answer::new(e, raw)),
                criterion::BatchSize::SmallInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("address_parse");
    let samples: HashMap<&str, &str> = HashMap::from([
        ("ascii", "Taro.Yamada@Contoso.com"),
        ("utf8", "山田.太郎@例え.テスト"),
        ("quoted", "\"john smith\"@partner.example"),
        ("malformed", "not-an-address"),
    ]);
    g.throughput(Throughput::Elements(1));
    for (name, a) in samples {
        g.bench_function(name, |b| b.iter(|| Address::parse(black_box(a))));
    }
    g.finish();

    // LDAP filter building: one escaped OR filter per chunk of a draft's addresses.
    let mut g = c.benchmark_group("ldap_filter");
    for (name, preset) in [
        (
            "openldap",
            mailtips::directory::ldap::config::Preset::Openldap,
        ),
        (
            "active_directory",
            mailtips::directory::ldap::config::Preset::ActiveDirectory,
        ),
    ] {
        let mapping = mailtips::directory::ldap::mapping::Mapping::preset(preset);
        for n in [10usize, 250] {
            let owned: Vec<Address> = (0..n)
                // A `*` in every address, so the escaping has work to do.
                .map(|i| Address::parse(&format!("user.{i}*@contoso.com")).unwrap())
                .collect();
            let chunk: Vec<&Address> = owned.iter().collect();
            g.throughput(Throughput::Elements(n as u64));
            g.bench_with_input(BenchmarkId::new(name, n), &chunk, |b, chunk| {
                b.iter(|| mapping.lookup_filter(black_box(chunk)))
            });
        }
    }
    g.finish();

    let graph = f.rt.block_on(f.directory.group_graph()).unwrap();
    let mut g = c.benchmark_group("group_metrics");
    g.sample_size(10);
    g.throughput(Throughput::Elements(graph.groups.len() as u64));
    g.bench_function("compute_20k_mailboxes_2k_groups", |b| {
        b.iter(|| mailtips::domain::groups::compute(black_box(&graph)))
    });
    g.finish();
}

/// The file directory's batch lookup in a 100,000-mailbox directory, as a busy server sees it:
/// each iteration is the next of 1,000 drafts, so the entries it finds are mostly not in the
/// CPU's caches (unlike `service_evaluate_warm`, which asks for one draft again and again).
fn lookup_in_a_large_directory(c: &mut Criterion) {
    let (text, _) = synth::generate(&GenParams {
        mailboxes: 100_000,
        groups: 10_000,
        seed: 1,
    });
    let snapshot = Snapshot::parse(&text, "<generated>", Default::default()).unwrap();
    drop(text);
    let book = AddressBook::from_snapshot(&snapshot);
    let directory = FileDirectory::from_snapshot(snapshot);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("file_lookup_100k");
    for n in [10usize, 200] {
        let drafts: Vec<Vec<Address>> = book
            .drafts(&DraftMix {
                recipients: n,
                pool: 1000,
                ..DraftMix::default()
            })
            .unwrap()
            .into_iter()
            .map(|d| {
                d.recipients
                    .iter()
                    .map(|r| Address::parse(&r.address).unwrap())
                    .collect()
            })
            .collect();
        let drafts: Vec<Vec<&Address>> = drafts.iter().map(|d| d.iter().collect()).collect();
        let mut next = 0;
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                next = (next + 1) % drafts.len();
                rt.block_on(directory.lookup(black_box(&drafts[next])))
            })
        });
    }
    g.finish();
}

criterion_group!(rules_benches, benches, lookup_in_a_large_directory);
criterion_main!(rules_benches);
