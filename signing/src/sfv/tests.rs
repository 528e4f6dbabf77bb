use super::*;

#[test]
fn parses_signature_input_dictionary() {
    let dict = parse_dictionary(
        r#"sig1=("@method" "content-digest";sf);created=1;keyid="k", sig2=();alg="x""#,
    )
    .expect("parses");
    assert_eq!(dict.len(), 2);
    let Member::InnerList(list) = &dict[0].1 else {
        panic!("inner list expected");
    };
    assert_eq!(
        serialize_inner_list(list),
        r#"("@method" "content-digest";sf);created=1;keyid="k""#
    );
    assert_eq!(dict[1].0, "sig2");
}

#[test]
fn parses_items_and_rejects_garbage() {
    let dict =
        parse_dictionary("a=:aGk=:, b=?0, c, d=-1.50, e=tok/x:y, f=\"q\\\"\"").expect("parses");
    let bare: Vec<&BareItem> = dict
        .iter()
        .map(|(_, m)| match m {
            Member::Item(i) => &i.bare,
            Member::InnerList(_) => panic!("item expected"),
        })
        .collect();
    assert_eq!(bare[0], &BareItem::ByteSeq(b"hi".to_vec()));
    assert_eq!(bare[1], &BareItem::Boolean(false));
    assert_eq!(bare[2], &BareItem::Boolean(true));
    assert_eq!(bare[3], &BareItem::Decimal("-1.5".into()));
    assert_eq!(bare[4], &BareItem::Token("tok/x:y".into()));
    assert_eq!(bare[5], &BareItem::String("q\"".into()));
    for bad in [
        "a=",
        "A=1",
        "a=1,",
        "a=(\"x\"",
        "a=\"\u{e9}\"",
        "a=:!!:",
        "a=1 b=2",
    ] {
        assert!(parse_dictionary(bad).is_err(), "{bad}");
    }
    assert!(parse_dictionary("  ").expect("empty").is_empty());
}
