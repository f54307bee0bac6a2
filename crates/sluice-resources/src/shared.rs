//! Clients and connection pools kept for the life of the process.
//!
//! Setting a resource up for the next run or sensor evaluation in the same process, with
//! the same config, reuses the warm pool or client instead of connecting again (a code
//! server evaluates a sensor every few seconds; a user-code process can execute many
//! runs). Keys are built from the *resolved* config, so a secret that changed makes a new
//! pool; they stay in this process's memory and are never shown.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use sluice_core::config::{EnvVarError, StringSource};

type Key = (TypeId, String);

static SHARED: LazyLock<Mutex<HashMap<Key, Box<dyn Any + Send + Sync>>>> =
    LazyLock::new(Default::default);

fn lock() -> MutexGuard<'static, HashMap<Key, Box<dyn Any + Send + Sync>>> {
    SHARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `T` kept under `key`, or the one `open` makes, kept from now on. If two callers
/// open at once, both get the one kept first.
pub(crate) async fn get_or_open<T, E, Fut>(key: String, open: impl FnOnce() -> Fut) -> Result<T, E>
where
    T: Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>>,
{
    let key = (TypeId::of::<T>(), key);
    if let Some(found) = lock().get(&key).and_then(|v| v.downcast_ref::<T>()) {
        return Ok(found.clone());
    }
    let opened = open().await?;
    let mut shared = lock();
    let kept = shared
        .entry(key)
        .or_insert_with(|| Box::new(opened.clone()));
    Ok(kept.downcast_ref::<T>().cloned().unwrap_or(opened))
}

/// Stop keeping the `T` under `key` (a database deleted, say); holders keep theirs.
pub(crate) fn forget<T: 'static>(key: &str) {
    lock().remove(&(TypeId::of::<T>(), key.to_owned()));
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
        assert_eq!(get_or_open("a".into(), || opened(1)).await, Ok(1));
        assert_eq!(get_or_open("a".into(), || opened(2)).await, Ok(1));
        assert_eq!(get_or_open("b".into(), || opened(3)).await, Ok(3));
        assert_eq!(
            get_or_open("a".into(), || async { Ok::<_, ()>(String::from("s")) }).await,
            Ok("s".to_owned())
        );
        assert_eq!(
            get_or_open::<u64, _, _>("c".into(), || async { Err("down") }).await,
            Err("down")
        );
        assert_eq!(
            get_or_open("c".into(), || async { Ok::<_, ()>(5u64) }).await,
            Ok(5),
            "failures are not kept"
        );
    }
}
