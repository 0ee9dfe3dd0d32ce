//! `#[locked(NAME, on = ETCD)]` and `with_lock!(NAME, on = ETCD, { .. })`.

mod support;

use std::time::Duration;

use scoped_lockfile::{LockError, LockOptions, locked, with_lock};
use scoped_lockfile_etcd::{EtcdLocks, EtcdOptions, EtcdProbe};
use support::{cluster, connect, unique_name};

/// Holds `name` on `etcd` while it runs, and says what it saw meanwhile.
#[locked(name, on = etcd, timeout = "5s")]
fn while_locked(etcd: &EtcdLocks, name: &str) -> Result<EtcdProbe, LockError> {
    etcd.probe(name)
}

#[locked(name, on = etcd, content_template = "async {pid}")]
async fn while_locked_async(etcd: &EtcdLocks, name: &str) -> Result<EtcdProbe, LockError> {
    etcd.probe_async(name).await
}

#[test]
fn locked_fn_on_etcd_holds_the_lock_while_it_runs() {
    let cluster = cluster();
    let name = unique_name("macro-fn");
    let etcd = connect(cluster, EtcdOptions::new());
    let seen = while_locked(&etcd, &name).unwrap();
    assert!(matches!(seen, EtcdProbe::Held { .. }), "{seen:?}");
    assert_eq!(etcd.probe(&name).unwrap(), EtcdProbe::Free);
}

#[test]
fn locked_async_fn_on_etcd_holds_the_lock_while_it_runs() {
    let cluster = cluster();
    let name = unique_name("macro-async");
    let etcd = connect(cluster, EtcdOptions::new());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = runtime.block_on(while_locked_async(&etcd, &name)).unwrap();
    let EtcdProbe::Held { holder, .. } = seen else {
        panic!("expected held, saw {seen:?}")
    };
    assert_eq!(
        holder.content,
        Some(format!("async {}", std::process::id()))
    );
}

#[test]
fn with_lock_on_etcd_fails_contended_while_another_holds() {
    let cluster = cluster();
    let name = unique_name("macro-block");
    let etcd = connect(cluster, EtcdOptions::new());
    let held = LockOptions::new().lock_on(&etcd, &name).unwrap();
    let ran = with_lock!(name.as_str(), on = etcd, timeout = "0s", { 1 });
    assert!(matches!(ran, Err(LockError::Contended { .. })), "{ran:?}");
    drop(held);
    let ran = with_lock!(name.as_str(), on = &etcd, timeout = "5s", { 2 });
    assert_eq!(ran.unwrap(), 2);
}

#[test]
fn shared_locks_are_unsupported_on_etcd() {
    let cluster = cluster();
    let name = unique_name("shared");
    let etcd = connect(cluster, EtcdOptions::new());
    let err = LockOptions::new()
        .shared()
        .timeout(Duration::ZERO)
        .lock_on(&etcd, &name)
        .unwrap_err();
    assert!(matches!(err, LockError::Unsupported { .. }), "{err:?}");
    assert_eq!(etcd.probe(&name).unwrap(), EtcdProbe::Free);
}
