//! slapd goes away mid-run and comes back: requests keep answering within their deadline with
//! the last known entries or `pending` (never an error, never a panic), and the server
//! recovers by itself once slapd returns.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailtips::directory::ldap::config::Preset;
use mailtips::directory::{CachedDirectory, LdapDirectory};
use mailtips::pb::{self, TipKind};

use crate::support::slapd::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slapd_stopped_then_restarted() {
    let mut slapd = Slapd::start(Preset::Openldap, &demo_ldif(Preset::Openldap));
    let mut config = demo_config();
    // No background group-metrics job: its paged searches would land in the search counter
    // below at times of the scheduler's choosing. This test counts the drafts' searches only.
    config.org.group_metrics_enabled = false;
    let ldap = LdapDirectory::new(slapd.ldap_config(Preset::Openldap), Default::default()).unwrap();
    // The cache judges freshness by this clock, which the test moves by hand.
    let now = Arc::new(Mutex::new(Instant::now()));
    let clock = {
        let now = now.clone();
        Arc::new(move || *now.lock().unwrap())
    };
    let cached = CachedDirectory::with_clock(
        ldap.clone(),
        config.directory.cache.clone(),
        config.org.refresh_interval,
        clock,
    );
    let server = TestServer::start(config.clone(), cached).await;

    let sender = "taro.yamada@contoso.com";
    let known = ["kenji.suzuki@contoso.com", "hanako.sato@contoso.com"];
    let warm = server.tips(draft(sender, &known)).await;
    assert!(fully_resolved(&warm));
    assert!(has(&warm.recipients[0], TipKind::MailboxFull));

    // TTLs by the injected clock: "not found" expires after negative_ttl, found entries
    // after positive_ttl; before that nothing goes to LDAP.
    let probe = draft(sender, &[known[0], "nobody@contoso.com"]);
    let cache = &config.directory.cache;
    let searches = |_: ()| ldap.stats().searches;
    server.tips(probe.clone()).await;
    let before = searches(());
    *now.lock().unwrap() += cache.negative_ttl - Duration::from_secs(1);
    server.tips(probe.clone()).await;
    assert_eq!(searches(()), before, "all fresh: no search");
    *now.lock().unwrap() += Duration::from_secs(2);
    server.tips(probe.clone()).await;
    assert_eq!(searches(()), before + 1, "the negative answer expired");
    server.tips(probe.clone()).await;
    assert_eq!(searches(()), before + 1, "and is fresh again");
    *now.lock().unwrap() += cache.positive_ttl;

    // Past the positive TTL, within the refresh interval: the cache must ask LDAP again.
    slapd.stop();

    let deadline = Duration::from_secs(2);
    let mut req = draft(
        sender,
        &[
            known[0],
            known[1],
            "yuki.ito@contoso.com",
            "never-asked@contoso.com",
        ],
    );
    req.message_size_bytes = 1_000;
    for round in 0..5 {
        let started = Instant::now();
        let mut client = server.client();
        let mut request = tonic::Request::new(req.clone());
        request.set_timeout(deadline);
        let resp = client
            .get_mail_tips(request)
            .await
            .expect("answers while slapd is down")
            .into_inner();
        let took = started.elapsed();
        eprintln!("slapd down, round {round}: answered in {took:?}");
        assert!(took < deadline, "answered within the deadline ({took:?})");
        let r = |i: usize| &resp.recipients[i];
        // Last known entries: the tips are still there.
        assert!(has(r(0), TipKind::MailboxFull), "{:#?}", r(0));
        assert!(has(r(1), TipKind::AutoReply), "{:#?}", r(1));
        assert!(r(0).pending.is_empty() && r(1).pending.is_empty());
        // Never seen: pending, not invalid.
        for i in [2, 3] {
            assert!(!r(i).pending.is_empty(), "{:#?}", r(i));
            assert!(!has(r(i), TipKind::InvalidInternalRecipient), "{:#?}", r(i));
            assert_eq!(r(i).resolved_as, pb::ResolvedKind::Unknown as i32);
        }
    }

    // Older than the refresh interval: not even the last known entry is served.
    *now.lock().unwrap() += config.org.refresh_interval;
    let resp = server.tips(draft(sender, &known)).await;
    assert!(
        resp.recipients.iter().all(|r| !r.pending.is_empty()),
        "nothing older than the refresh interval: {resp:#?}"
    );

    // slapd returns: the server recovers by itself.
    let back = Instant::now();
    slapd.restart();
    let accepting = back.elapsed();
    // Waits for the event (a fully resolved answer) with a generous bound; how long it took is
    // reported, not asserted (the machine may be busy).
    let recovered = eventually(Duration::from_secs(30), || {
        let server = &server;
        let req = req.clone();
        async move { fully_resolved(&server.tips(req).await) }
    })
    .await
    .expect("recovered");
    eprintln!(
        "slapd restarted: accepting after {accepting:?}; first fully resolved answer {:?} after \
         the restart began ({recovered:?} after it accepted connections); connects so far: {}",
        back.elapsed(),
        ldap.stats().connects
    );
    let resp = server.tips(req.clone()).await;
    assert!(has(&resp.recipients[3], TipKind::InvalidInternalRecipient));
    assert!(ldap.stats().connects >= 2, "it reconnected");

    // A hung slapd (stopped, connections open but silent): answers still come within the
    // deadline, from the cache, and the server recovers when slapd wakes up.
    let pid = slapd.pid().expect("running");
    freeze(pid);
    *now.lock().unwrap() += config.directory.cache.positive_ttl + Duration::from_secs(1);
    let mut fresh = req.clone();
    fresh.recipients.push(pb::Recipient {
        address: "staff07@contoso.com".into(),
        field: pb::RecipientField::Cc as i32,
    });
    for round in 0..3 {
        let started = Instant::now();
        let mut client = server.client();
        let mut request = tonic::Request::new(fresh.clone());
        request.set_timeout(deadline);
        let resp = client
            .get_mail_tips(request)
            .await
            .expect("answers while slapd hangs")
            .into_inner();
        let took = started.elapsed();
        eprintln!("slapd hung, round {round}: answered in {took:?}");
        assert!(took < deadline, "answered within the deadline ({took:?})");
        assert!(has(&resp.recipients[0], TipKind::MailboxFull));
        assert!(!resp.recipients[4].pending.is_empty());
    }
    signal(pid, "-CONT");
    let woke = eventually(Duration::from_secs(30), || {
        let server = &server;
        let fresh = fresh.clone();
        async move { fully_resolved(&server.tips(fresh).await) }
    })
    .await
    .expect("recovered after the hang");
    eprintln!("slapd woke up: fully resolved after {woke:?}");
}
