//! Which config fields and tags hold secrets: the one rule everything that shows config
//! or tags follows (the service layer's redaction, and the messages of config errors).

/// Parts of a key that make its value a secret.
const SECRET_WORDS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "credential",
];

/// Whether a config field or tag named `key` holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}
