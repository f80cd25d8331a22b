//! English and Russian: every string of the UI lives in `i18n/<lang>.toml`
//! (embedded at build time, parsed once). Tables flatten to dotted keys:
//! `[nav] shop = "Shop"` is `nav.shop`.
//!
//! The language is the `lang` cookie when set (the switch link sets it),
//! else the best match of `Accept-Language`, else English.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock},
};

use http::HeaderMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }

    /// The other language (the switch link offers it).
    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Ru,
            Lang::Ru => Lang::En,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../i18n/en.toml"),
            Lang::Ru => include_str!("../i18n/ru.toml"),
        }
    }

    /// This language's strings.
    pub fn tr(self) -> Tr {
        static EN: LazyLock<Arc<Strings>> = LazyLock::new(|| Arc::new(load(Lang::En)));
        static RU: LazyLock<Arc<Strings>> = LazyLock::new(|| Arc::new(load(Lang::Ru)));
        let strings = match self {
            Lang::En => EN.clone(),
            Lang::Ru => RU.clone(),
        };
        Tr {
            lang: self,
            strings,
        }
    }
}

/// The language of a request: the `lang` cookie, then `Accept-Language`
/// (highest q first), then English.
pub fn negotiate(cookie: Option<&str>, headers: &HeaderMap) -> Lang {
    if let Some(lang) = cookie.and_then(Lang::parse) {
        return lang;
    }
    let Some(accept) = headers
        .get(http::header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
    else {
        return Lang::En;
    };
    let mut best: Option<(u16, Lang)> = None;
    for part in accept.split(',') {
        let mut bits = part.split(';');
        let tag = bits.next().unwrap_or("");
        let q = bits
            .find_map(|b| b.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .map_or(1000, |q| (q.clamp(0.0, 1.0) * 1000.0) as u16);
        if let Some(lang) = Lang::parse(tag)
            && q > 0
            && best.is_none_or(|(bq, _)| q > bq)
        {
            best = Some((q, lang));
        }
    }
    best.map_or(Lang::En, |(_, l)| l)
}

pub type Strings = HashMap<String, String>;

/// Parses a language file into dotted keys. The files are part of the
/// binary and checked by the tests, so a broken one is a build defect.
pub fn parse(source: &str) -> Result<Strings, String> {
    let table: toml::Table = toml::from_str(source).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    flatten("", &table, &mut out)?;
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Strings) -> Result<(), String> {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out)?,
            _ => return Err(format!("{key}: only strings and tables are allowed")),
        }
    }
    Ok(())
}

fn load(lang: Lang) -> Strings {
    parse(lang.source()).unwrap_or_else(|e| {
        tracing::error!(lang = lang.code(), error = %e, "language file is broken");
        HashMap::new()
    })
}

/// The strings of one language, cheap to clone into every page.
#[derive(Clone)]
pub struct Tr {
    pub lang: Lang,
    strings: Arc<Strings>,
}

impl Tr {
    /// The string for `key`; a missing key shows itself (the tests make
    /// sure no template uses one).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings.get(key).map_or(key, String::as_str)
    }

    /// The string for `key` with `{name}` placeholders filled in.
    pub fn f(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_owned();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    pub fn has(&self, key: &str) -> bool {
        self.strings.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.strings.keys()
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::ACCEPT_LANGUAGE, v.parse().unwrap());
        h
    }

    #[test]
    fn language_by_cookie_then_accept_language() {
        assert_eq!(negotiate(None, &HeaderMap::new()), Lang::En);
        assert_eq!(
            negotiate(None, &accept("ru-RU,ru;q=0.9,en;q=0.8")),
            Lang::Ru
        );
        assert_eq!(
            negotiate(None, &accept("de-DE, en;q=0.5, ru;q=0.7")),
            Lang::Ru
        );
        assert_eq!(negotiate(None, &accept("fr")), Lang::En);
        assert_eq!(negotiate(None, &accept("ru;q=0")), Lang::En);
        assert_eq!(negotiate(Some("en"), &accept("ru")), Lang::En);
        assert_eq!(negotiate(Some("xx"), &accept("ru")), Lang::Ru);
    }

    #[test]
    fn files_parse_and_flatten() {
        let s = parse("a = \"A\"\n[nav]\nshop = \"Shop\"\n").unwrap();
        assert_eq!(s["a"], "A");
        assert_eq!(s["nav.shop"], "Shop");
        assert!(parse("a = 1").is_err());
        for lang in Lang::ALL {
            assert!(parse(lang.source()).is_ok(), "{}", lang.code());
        }
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let en: std::collections::BTreeSet<_> = Lang::En.tr().keys().cloned().collect();
        let ru: std::collections::BTreeSet<_> = Lang::Ru.tr().keys().cloned().collect();
        assert!(en.len() > 100, "the English file loaded");
        let only_en: Vec<_> = en.difference(&ru).collect();
        let only_ru: Vec<_> = ru.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in ru.toml: {only_en:?}");
        assert!(only_ru.is_empty(), "missing in en.toml: {only_ru:?}");
        for key in &en {
            assert!(!Lang::Ru.tr().t(key).is_empty(), "{key} is empty in ru");
        }
    }

    /// Every literal key the templates and handlers use exists.
    #[test]
    fn every_used_key_exists() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        let mut dirs = vec![root.join("src"), root.join("templates")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        let tr = Lang::En.tr();
        let mut checked = 0;
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for call in [
                "p.t(\"",
                "tr.t(\"",
                "tr.f(\"",
                "chrome(\"",
                "chrome_with(\"",
            ] {
                for (i, _) in text.match_indices(call) {
                    let rest = &text[i + call.len()..];
                    let key = &rest[..rest.find('"').unwrap()];
                    if key == "no.such.key" {
                        continue;
                    }
                    assert!(tr.has(key), "{}: unknown key {key}", f.display());
                    checked += 1;
                }
            }
        }
        assert!(checked > 100);
    }

    #[test]
    fn placeholders() {
        let tr = Lang::En.tr();
        assert_eq!(tr.t("no.such.key"), "no.such.key");
        assert_eq!(
            tr.f("dashboard.welcome", &[("email", "a@b.c")]),
            "Welcome, a@b.c"
        );
        assert_eq!(Lang::Ru.tr().t("nav.shop"), "Магазин");
    }
}
