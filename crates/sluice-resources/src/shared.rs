//! Clients and connection pools kept for the life of the process.
//!
//! Setting a resource up for the next run or sensor evaluation in the same process, with
//! the same config, reuses the warm pool or client instead of connecting again (a code
//! server evaluates a sensor every few seconds; a user-code process can execute many
//! runs). Keys are built from the *resolved* config, so a secret that changed makes a new
//! pool; they stay in this process's memory and are never shown.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use tokio::sync::OnceCell;

use sluice_core::config::{EnvVarError, StringSource};

type Key = (TypeId, String);

/// One kept value; the cell makes callers that ask for the same key at once wait for a
/// single open.
type Slot = Arc<OnceCell<Box<dyn Any + Send + Sync>>>;

static SHARED: LazyLock<Mutex<HashMap<Key, Slot>>> = LazyLock::new(Default::default);

fn lock() -> MutexGuard<'static, HashMap<Key, Slot>> {
    SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `T` kept under `key` while `usable` says it still is (a pool not closed by user
/// code, say), or the one `open` makes, kept from now on. Callers that ask for the same
/// key at once share one open; a failed open is not kept.
pub(crate) async fn get_or_open<T, E, Fut>(
    key: String,
    usable: impl Fn(&T) -> bool,
    open: impl FnOnce() -> Fut,
) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>>,
{
    let key = (TypeId::of::<T>(), key);
    let slot = {
        let mut shared = lock();
        let stale = shared
            .get(&key)
            .and_then(|slot| slot.get())
            .and_then(|value| value.downcast_ref::<T>())
            .is_some_and(|value| !usable(value));
        if stale {
            shared.remove(&key);
        }
        Arc::clone(shared.entry(key).or_default())
    };
    let value = slot
        .get_or_try_init(|| async {
            open()
                .await
                .map(|value| Box::new(value) as Box<dyn Any + Send + Sync>)
        })
        .await?;
    Ok(value
        .downcast_ref::<T>()
        .expect("a slot holds values of the type in its key")
        .clone())
}

/// A key for `config`: its JSON, and the current values of the secrets it names (an
/// `{env: NAME}` source is resolved now, so a changed variable makes a new key).
pub(crate) fn config_key(
    config: &impl serde::Serialize,
    secrets: &[Option<&StringSource>],
) -> Result<String, EnvVarError> {
    let mut key = serde_json::to_string(config).unwrap_or_default();
    for secret in secrets.iter().flatten() {
        key.push('\n');
        key.push_str(&secret.resolve()?);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_opened_value_is_kept_per_type_and_key() {
        let opened = |v: u32| async move { Ok::<_, ()>(v) };
        let any = |_: &u32| true;
        assert_eq!(get_or_open("a".into(), any, || opened(1)).await, Ok(1));
        assert_eq!(get_or_open("a".into(), any, || opened(2)).await, Ok(1));
        assert_eq!(get_or_open("b".into(), any, || opened(3)).await, Ok(3));
        let text = get_or_open(
            "a".into(),
            |_: &String| true,
            || async { Ok::<_, ()>(String::from("s")) },
        );
        assert_eq!(text.await, Ok("s".to_owned()));
        let down = get_or_open::<u64, _, _>("c".into(), |_| true, || async { Err("down") });
        assert_eq!(down.await, Err("down"));
        let up = get_or_open("c".into(), |_: &u64| true, || async { Ok::<_, ()>(5u64) });
        assert_eq!(up.await, Ok(5), "failures are not kept");
        // A value no longer usable is replaced.
        assert_eq!(
            get_or_open("a".into(), |_: &u32| false, || opened(7)).await,
            Ok(7)
        );
    }

    #[tokio::test]
    async fn callers_asking_at_once_share_one_open() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static OPENS: AtomicUsize = AtomicUsize::new(0);
        let open = || async {
            OPENS.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok::<_, ()>(42u16)
        };
        let (a, b) = tokio::join!(
            get_or_open("once".into(), |_: &u16| true, open),
            get_or_open("once".into(), |_: &u16| true, open)
        );
        assert_eq!((a, b), (Ok(42), Ok(42)));
        assert_eq!(OPENS.load(Ordering::SeqCst), 1);
    }
}
