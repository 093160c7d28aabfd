//! The console's strings, per language: `messages/<lang>.toml`, compiled
//! in. A key missing from a catalog falls back to English (a test checks
//! that none is missing).

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language the console speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language of a code; English for any other.
    pub fn from_code(code: &str) -> Lang {
        match code {
            "fr" => Lang::Fr,
            _ => Lang::En,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../messages/en.toml"),
            Lang::Fr => include_str!("../messages/fr.toml"),
        }
    }
}

type Catalog = HashMap<String, String>;

fn catalogs() -> &'static [Catalog; 2] {
    static CATALOGS: OnceLock<[Catalog; 2]> = OnceLock::new();
    CATALOGS.get_or_init(|| {
        // The catalogs are compiled in and checked by the tests: one that
        // does not parse is a build defect, shown as its keys.
        Lang::ALL.map(|lang| toml::from_str(lang.source()).unwrap_or_default())
    })
}

fn catalog(lang: Lang) -> &'static Catalog {
    &catalogs()[lang as usize]
}

/// The text of `key` in `lang` (English if `lang` lacks it, the key
/// itself if English does too).
pub fn text(lang: Lang, key: &str) -> String {
    catalog(lang)
        .get(key)
        .or_else(|| catalog(Lang::En).get(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

/// [`text`] with its `{name}` placeholders filled.
pub fn fill(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    let mut out = text(lang, key);
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_parses_and_has_every_english_key() {
        for lang in Lang::ALL {
            let parsed: Result<Catalog, _> = toml::from_str(lang.source());
            assert!(parsed.is_ok(), "{}: {parsed:?}", lang.code());
        }
        let english = catalog(Lang::En);
        assert!(english.len() > 40, "{} strings", english.len());
        for lang in Lang::ALL {
            let missing: Vec<&String> = english
                .keys()
                .filter(|k| !catalog(lang).contains_key(*k))
                .collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.code());
            let extra: Vec<&String> = catalog(lang)
                .keys()
                .filter(|k| !english.contains_key(*k))
                .collect();
            assert!(extra.is_empty(), "{} has unknown {extra:?}", lang.code());
        }
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(Lang::En, "signed_in_as", &[("operator", "hub-ops")]),
            "Signed in as hub-ops"
        );
        assert_eq!(
            fill(Lang::Fr, "signed_in_as", &[("operator", "hub-ops")]),
            "Connecté en tant que hub-ops"
        );
        assert_eq!(text(Lang::Fr, "no-such-key"), "no-such-key");
    }
}
