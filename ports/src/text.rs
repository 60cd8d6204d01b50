//! The rules for text that comes from outside (Kratos, the webhook, import
//! files): how it is cleaned, and how emails compare. Each rule lives here
//! once; [`crate::Email`] and [`crate::Profile::from_untrusted`] apply them.

use unicode_normalization::UnicodeNormalization;

/// Names keep at most this many characters.
pub const NAME_MAX_CHARS: usize = 256;
/// Avatar URLs keep at most this many characters.
pub const AVATAR_MAX_CHARS: usize = 2048;

/// Drops control characters (NUL, BEL, ESC, DEL, the C1 range…; a control
/// that is whitespace, such as a tab or a line break, becomes a space, so
/// that the words around it stay apart) and trims surrounding whitespace.
pub fn strip_controls(raw: &str) -> String {
    if !raw.chars().any(char::is_control) {
        return raw.trim().to_owned();
    }
    strip_controls_each(raw)
}

/// [`strip_controls`] character by character, whatever the text holds.
fn strip_controls_each(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .filter_map(|c| match c {
            c if !c.is_control() => Some(c),
            c if c.is_whitespace() => Some(' '),
            _ => None,
        })
        .collect();
    match cleaned.trim() {
        trimmed if trimmed.len() == cleaned.len() => cleaned,
        trimmed => trimmed.to_owned(),
    }
}

/// [`strip_controls`], then at most `max_chars` characters (trimmed again, as
/// the cut may end on a space); `None` when nothing is left.
pub fn clean_text(raw: &str, max_chars: usize) -> Option<String> {
    let cleaned = strip_controls(raw);
    let capped = match cleaned.char_indices().nth(max_chars) {
        Some((cut, _)) => cleaned[..cut].trim_end().to_owned(),
        None => cleaned,
    };
    (!capped.is_empty()).then_some(capped)
}

/// The form every email comparison uses, in the service and in the stored
/// `users.email_normalized` column alike: [`strip_controls`], then Unicode
/// lowercase (the full default mapping, the same on every machine and in no
/// way tied to a locale or the database's ctype), then NFC, so that an
/// accented letter typed precomposed or as letter + combining mark is one
/// address. Nothing else: no case folding beyond lowercase (`ß` stays `ß`),
/// no dots or `+tags` removed, as mail servers may treat those as distinct.
pub fn email_key(raw: &str) -> String {
    let mut key = strip_controls(raw);
    if key.is_ascii() {
        // The full lowercase mapping of ASCII is ASCII's, and ASCII is its own
        // NFC: the common case skips both passes over the characters.
        key.make_ascii_lowercase();
        return key;
    }
    key.to_lowercase().nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortcuts_for_plain_text_give_what_the_full_rules_give() {
        let samples = [
            "Ada@Example.COM",
            "  Ada@Example.COM \t",
            "ada\u{0}@example.com",
            "ADA\u{7f}@EXAMPLE.com",
            "\u{85}Zoë@Example.com",
            "ZOË@EXAMPLE.COM",
            "Zoe\u{301}@example.com",
            "\u{2003}İstanbul@example.com\u{3000}",
            "ǅemal@example.com",
            "",
            " \u{0} ",
        ];
        for raw in samples {
            assert_eq!(strip_controls(raw), strip_controls_each(raw), "{raw:?}");
            let full: String = strip_controls_each(raw).to_lowercase().nfc().collect();
            assert_eq!(email_key(raw), full, "{raw:?}");
        }
        for byte in 0_u8..=0x7f {
            let raw = format!("A{}b@Example.com", char::from(byte));
            let full: String = strip_controls_each(&raw).to_lowercase().nfc().collect();
            assert_eq!(email_key(&raw), full, "{raw:?}");
        }
    }

    #[test]
    fn control_characters_are_dropped_and_whitespace_controls_become_spaces() {
        assert_eq!(strip_controls(" \u{0}Ada\u{7} \u{1b}[31m"), "Ada [31m");
        assert_eq!(strip_controls("Ada\tLovelace\r\n"), "Ada Lovelace");
        assert_eq!(strip_controls("\u{85}Zoë\u{9f}"), "Zoë");
        assert_eq!(strip_controls("plain"), "plain");
    }

    #[test]
    fn text_is_capped_in_characters_not_bytes() {
        let long = "é".repeat(20_000);
        let capped = clean_text(&long, NAME_MAX_CHARS).unwrap();
        assert_eq!(capped.chars().count(), NAME_MAX_CHARS);
        assert_eq!(clean_text("Ada Lovelace", 4).as_deref(), Some("Ada"));
        assert_eq!(
            clean_text("short", NAME_MAX_CHARS).as_deref(),
            Some("short")
        );
    }

    #[test]
    fn text_left_empty_after_cleaning_is_absent() {
        assert_eq!(clean_text(" \u{0}\u{7} ", NAME_MAX_CHARS), None);
        assert_eq!(clean_text("", AVATAR_MAX_CHARS), None);
    }

    #[test]
    fn email_keys_are_unicode_lowercase_whatever_the_locale() {
        assert_eq!(email_key(" ZOË@EXAMPLE.TEST "), "zoë@example.test");
        assert_eq!(
            email_key("ÉLODIE.ÅSTRÖM@EXAMPLE.TEST"),
            email_key("élodie.åström@example.test")
        );
        assert_eq!(email_key("ΣΑΣ@example.test"), "σας@example.test");
        assert_eq!(email_key("STRASSE@example.test"), "strasse@example.test");
        assert_ne!(email_key("straße@example.test"), "strasse@example.test");
    }

    #[test]
    fn email_keys_do_not_depend_on_how_an_accent_was_typed() {
        let precomposed = "zo\u{eb}@example.test";
        let combining = "ZOE\u{308}@EXAMPLE.TEST";
        assert_eq!(email_key(combining), precomposed);
    }

    #[test]
    fn email_keys_drop_control_characters() {
        assert_eq!(email_key("ada\u{0}@Example.test\u{7}"), "ada@example.test");
    }
}
