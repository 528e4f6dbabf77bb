use super::*;
use serde_json::json;

fn canon(text: &str) -> String {
    let value: Value = serde_json::from_str(text).expect("valid json");
    canonicalize_to_string(&value).expect("canonicalizable")
}

#[test]
fn rfc8785_section_3_2_2_example() {
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    let expected = "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"string\":\"€$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(canon(input), expected);
    let value: Value = serde_json::from_str(input).expect("json");
    assert_eq!(canonicalize(&value).expect("ok"), expected.as_bytes());
}

#[test]
fn rfc8785_section_3_2_3_sorting() {
    let input = r#"{
      "\u20ac": "Euro Sign",
      "\r": "Carriage Return",
      "\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\ud83d\ude00": "Emoji: Grinning Face",
      "\u0080": "Control",
      "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let value: Value = serde_json::from_str(input).expect("json");
    let out = canon(input);
    let reparsed: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(reparsed, value);
    let order = [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|v| out.find(v).expect("value present"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{out}");
    assert!(out.starts_with("{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":"));
}

/// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical form.
#[test]
fn rfc8785_appendix_b_numbers() {
    let cases: &[(u64, &str)] = &[
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expected) in cases {
        let f = f64::from_bits(*bits);
        assert_eq!(
            format_f64(f).expect("finite"),
            *expected,
            "bits {bits:016x}"
        );
        // Through serde_json too (integral floats may become i64 there).
        if let Some(n) = serde_json::Number::from_f64(f) {
            let out = canonicalize_to_string(&Value::Number(n)).expect("finite");
            assert_eq!(out, *expected, "bits {bits:016x}");
        }
    }
}

#[test]
fn non_finite_numbers_are_errors() {
    for bits in [
        0x7fffffffffffffff_u64,
        0x7ff0000000000000,
        0xfff0000000000000,
    ] {
        assert_eq!(
            format_f64(f64::from_bits(bits)),
            Err(JcsError::NonFiniteNumber)
        );
    }
}

#[test]
fn integers_and_small_values() {
    assert_eq!(
        canon("[1, -1, 0, 4.0, 1e2, 18446744073709551615, -9223372036854775808]"),
        "[1,-1,0,4,100,18446744073709551615,-9223372036854775808]"
    );
    assert_eq!(format_f64(1e-7).expect("ok"), "1e-7");
    assert_eq!(format_f64(1.5e-7).expect("ok"), "1.5e-7");
    assert_eq!(format_f64(123e-20).expect("ok"), "1.23e-18");
    assert_eq!(format_f64(0.1 + 0.2).expect("ok"), "0.30000000000000004");
    assert_eq!(format_f64(-12.5).expect("ok"), "-12.5");
}

#[test]
fn strings_and_nesting() {
    assert_eq!(
        canon(r#"{"b":[{"z":1,"a":"\u007f\u001f\b\f\t"}],"a":{}}"#),
        "{\"a\":{},\"b\":[{\"a\":\"\u{7f}\\u001f\\b\\f\\t\",\"z\":1}]}"
    );
    let v = json!({"k": "</script>", "e": []});
    assert_eq!(
        canonicalize_to_string(&v).expect("ok"),
        r#"{"e":[],"k":"</script>"}"#
    );
}

#[test]
fn formatted_numbers_round_trip() {
    let mut state = 0x9e3779b97f4a7c15_u64;
    for _ in 0..200_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let f = f64::from_bits(state);
        if !f.is_finite() {
            continue;
        }
        let text = format_f64(f).expect("finite");
        let back: f64 = text.parse().expect("parses");
        assert_eq!(back, if f == 0.0 { 0.0 } else { f }, "{text}");
        let shortest = format!("{:e}", f.abs());
        let digits = shortest
            .split('e')
            .next()
            .map_or(0, |m| m.replace('.', "").len());
        let ours = text
            .trim_start_matches('-')
            .split('e')
            .next()
            .map_or(0, |m| {
                m.replace('.', "")
                    .trim_start_matches('0')
                    .trim_end_matches('0')
                    .len()
            });
        assert!(ours <= digits, "{text} vs {shortest}");
    }
}
