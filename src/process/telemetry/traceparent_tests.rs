use super::*;

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn parse(text: &str) -> Option<Parent> {
    parse_traceparent(text.as_bytes())
}

#[test]
fn a_valid_traceparent_gives_the_callers_trace_span_and_sampled_flag() {
    let parent = parse(VALID).expect("valid");
    assert_eq!(
        parent.trace_id.to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(parent.span_id.to_string(), "00f067aa0ba902b7");
    assert!(parent.sampled);
    let unsampled = parse(&VALID.replace("-01", "-00")).expect("valid");
    assert!(!unsampled.sampled);
    assert_eq!(unsampled.trace_id, parent.trace_id);
    // Other flag bits are not ours to interpret; only the sampled bit counts.
    assert!(!parse(&VALID.replace("-01", "-02")).expect("valid").sampled);
    assert!(parse(&format!(" {VALID} ")).is_some());
}

#[test]
fn a_later_version_may_carry_more_fields_and_version_00_may_not() {
    let later = VALID.replacen("00-", "cc-", 1);
    assert!(parse(&later).is_some());
    assert!(parse(&format!("{later}-what-comes-next")).is_some());
    assert!(parse(&format!("{later}x")).is_none());
    assert!(parse(&format!("{VALID}-extra")).is_none());
}

#[test]
fn malformed_traceparents_are_refused() {
    for text in [
        "",
        "garbage",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        "é0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
        assert_eq!(parse(text), None, "{text:?}");
    }
}
