//! `sluice new NAME`: a cargo crate for a code location of one's own, which builds,
//! passes its tests and serves under `sluice dev` as it is written. The files are in
//! `bins/sluice/template/`, with `{{name}}` (the crate, binary and location name),
//! `{{crate}}` (its Rust name) and `{{sluice_dependency}}` filled in.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The template: each file's path in the new crate, and its text.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../template/Cargo.toml")),
    ("src/lib.rs", include_str!("../template/src/lib.rs")),
    ("src/main.rs", include_str!("../template/src/main.rs")),
    (
        "tests/location.rs",
        include_str!("../template/tests/location.rs"),
    ),
    ("workspace.yaml", include_str!("../template/workspace.yaml")),
    ("sluice.yaml", include_str!("../template/sluice.yaml")),
    ("Dockerfile", include_str!("../template/Dockerfile")),
    ("README.md", include_str!("../template/README.md")),
    (".gitignore", include_str!("../template/gitignore")),
];

/// The Sluice checkout this binary was built from.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the new crate gets Sluice from.
pub(crate) enum SluiceSource {
    /// The checkout this binary was built from.
    Checkout,
    /// A git repository, at a revision if one is given.
    Git { url: String, rev: Option<String> },
}

/// Write the crate for location `name` into `dir` (`./NAME` when `None`).
pub(crate) fn run(name: &str, dir: Option<PathBuf>, source: SluiceSource) -> Result<()> {
    check_name(name)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} exists and is not empty; choose another directory with --dir",
            dir.display()
        );
    }
    let dependency = match &source {
        SluiceSource::Checkout => {
            let sluice = checkout().join("crates/sluice");
            let sluice = sluice.canonicalize().with_context(|| {
                format!(
                    "this sluice was built from {}, which is not there any more; depend on Sluice by git instead (--sluice-git URL)",
                    checkout().display()
                )
            })?;
            format!("sluice = {{ path = {:?} }}", sluice.display().to_string())
        }
        SluiceSource::Git {
            url,
            rev: Some(rev),
        } => {
            format!("sluice = {{ git = {url:?}, rev = {rev:?} }}")
        }
        SluiceSource::Git { url, rev: None } => format!("sluice = {{ git = {url:?} }}"),
    };
    let rust_name = name.replace('-', "_");
    for (path, template) in FILES {
        let text = template
            .replace("{{sluice_dependency}}", &dependency)
            .replace("{{crate}}", &rust_name)
            .replace("{{name}}", name);
        write(&dir.join(path), &text)?;
    }
    if let SluiceSource::Checkout = source {
        // The versions Sluice is built and tested with, and a build that reuses what the
        // checkout's own builds compiled when CARGO_TARGET_DIR is shared.
        let lock = checkout().join("Cargo.lock");
        if lock.is_file() {
            std::fs::copy(&lock, dir.join("Cargo.lock"))
                .with_context(|| format!("copying {}", lock.display()))?;
        }
    }
    if let Some(linker) = fast_linker() {
        write(
            &dir.join(".cargo/config.toml"),
            &format!(
                "# {linker} links in a fraction of the time of the system's default linker, which\n# is most of a rebuild after a one-line change (`sluice dev` rebuilds on save).\n[target.'cfg(target_os = \"linux\")']\nrustflags = [\"-C\", \"link-arg=-fuse-ld={linker}\"]\n"
            ),
        )?;
    }
    eprintln!(
        "Created the code location \"{name}\" in {dir}.\n\n  cd {dir}\n  cargo test    # its tests, in process\n  sluice dev    # the UI on http://127.0.0.1:3000; saving a file rebuilds and reloads it\n",
        dir = dir.display()
    );
    Ok(())
}

/// A location name must be a crate name: lowercase letters, digits, `_` and `-`,
/// starting with a letter.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !starts_with_letter
        || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        bail!(
            "\"{name}\" cannot name a code location's crate: use lowercase letters, digits, `_` and `-`, starting with a letter"
        );
    }
    if name == "sluice" || name == "test" || name.starts_with("sluice-") {
        bail!("\"{name}\" is taken by Sluice's own crates or by cargo; choose another name");
    }
    Ok(())
}

/// A linker faster than the default one, if one is installed: mold, else lld.
fn fast_linker() -> Option<&'static str> {
    let on_path = |program: &str| {
        std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    if on_path("mold") {
        Some("mold")
    } else if on_path("ld.lld") {
        Some("lld")
    } else {
        None
    }
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_crate_names() {
        assert!(check_name("acme").is_ok());
        assert!(check_name("acme_etl-2").is_ok());
        for bad in [
            "",
            "Acme",
            "2acme",
            "ac me",
            "acme!",
            "sluice",
            "sluice-core",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_placeholder_is_filled() {
        for (path, template) in FILES {
            let text = template
                .replace("{{sluice_dependency}}", "sluice = { path = \"x\" }")
                .replace("{{crate}}", "acme")
                .replace("{{name}}", "acme");
            assert!(!text.contains("{{"), "{path} keeps a placeholder");
        }
    }
}
