use super::*;

fn batch() -> Batch {
    let key = |metric: &str, instance: &str| SeriesKey::new("web2", metric, instance);
    let points = |start: i64, values: &[f64]| -> Vec<(i64, f64)> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (start + i as i64 * 10_000, v))
            .collect()
    };
    Batch {
        protocol: PROTOCOL,
        version: "0.1.0".into(),
        session: "a1b2".into(),
        seq: 7,
        after_ms: 1_800_000_000_000,
        upto_ms: 1_800_000_060_000,
        sent_ms: 1_800_000_060_500,
        series: series_of([
            (
                key("cpu.usage_percent", ""),
                points(1_800_000_010_000, &[12.5, 13.25, 0.1 + 0.2]),
            ),
            (
                key("disk.used_bytes", "/"),
                points(1_800_000_010_000, &[8_123_456_789.0]),
            ),
        ]),
        incidents: vec![RemoteIncident {
            service: "shop".into(),
            started_ms: 1_800_000_020_000,
            ended_ms: None,
            state: State::Down,
            kind: Some("connection_refused".into()),
            cause: "shop refused the connection".into(),
        }],
        services: vec![RemoteService {
            name: "shop".into(),
            state: State::Down,
            kind: Some("connection_refused".into()),
            explanation: "shop refused the connection".into(),
            since_ms: 1_800_000_020_000,
            checked_ms: 1_800_000_050_000,
            response_ms: None,
            critical: true,
            depends_on: vec!["db".into()],
        }],
    }
}

#[test]
fn a_batch_travels_compressed_and_comes_back_exactly() {
    let sent = batch();
    let body = sent.encode();
    let json = serde_json::to_vec(&sent).unwrap();
    assert!(body.len() < json.len(), "{} vs {}", body.len(), json.len());
    let got = Batch::decode(&body, true).unwrap();
    assert_eq!(got, sent);
    let samples = got.samples("web2");
    assert_eq!(samples.len(), 4);
    assert_eq!(samples[2].value, 0.1 + 0.2, "values round-trip to the bit");
    assert_eq!(
        samples[2].at.as_millisecond(),
        1_800_000_030_000,
        "times are differences from the one before"
    );
    assert_eq!(Batch::decode(&json, false).unwrap(), sent, "plain JSON too");
}

#[test]
fn samples_are_filed_under_the_name_the_hub_gives_not_one_the_agent_claims() {
    let samples = batch().samples("the-token-name");
    assert!(samples.iter().all(|s| s.key.host == "the-token-name"));
}

#[test]
fn a_newer_agent_with_fields_this_hub_does_not_know_still_delivers() {
    let mut value = serde_json::to_value(batch()).unwrap();
    value["checksum"] = serde_json::json!("abc");
    value["series"][0]["unit"] = serde_json::json!("percent");
    value["services"][0]["kind"] = serde_json::json!("a_kind_from_the_future");
    let body = serde_json::to_vec(&value).unwrap();
    let got = Batch::decode(&body, false).unwrap();
    assert_eq!(got.sample_count(), 4);
    assert_eq!(
        got.services[0].kind.as_deref(),
        Some("a_kind_from_the_future"),
        "kept as text; the hub reads an unknown kind as none"
    );
}

#[test]
fn an_older_agent_without_the_optional_fields_still_delivers() {
    let body = br#"{"protocol":1,"session":"s","seq":1,"after_ms":0,"upto_ms":10,"sent_ms":10,
        "services":[{"name":"shop","state":"up","since_ms":1,"checked_ms":5}]}"#;
    let got = Batch::decode(body, false).unwrap();
    assert_eq!(got.version, "");
    assert!(got.series.is_empty() && got.incidents.is_empty());
    assert!(!got.services[0].critical && got.services[0].depends_on.is_empty());
}

#[test]
fn a_protocol_outside_the_range_is_refused_saying_which_side_to_update() {
    let mut newer = serde_json::to_value(batch()).unwrap();
    newer["protocol"] = serde_json::json!(PROTOCOL + 1);
    // A future protocol may also change the shape: still named for what it is.
    newer["series"] = serde_json::json!("a different layout");
    let err = Batch::decode(&serde_json::to_vec(&newer).unwrap(), false).unwrap_err();
    let BatchError::Incompatible(message) = err else {
        panic!("{err:?}")
    };
    assert!(message.contains("update keepwatch on the hub"), "{message}");
    assert!(message.contains("keeps its data"), "{message}");

    let mut older = serde_json::to_value(batch()).unwrap();
    older["protocol"] = serde_json::json!(0);
    let err = Batch::decode(&serde_json::to_vec(&older).unwrap(), false).unwrap_err();
    assert!(
        err.to_string().contains("update keepwatch on the agent"),
        "{err}"
    );
}

#[test]
fn what_a_well_behaved_agent_never_sends_is_refused_with_where() {
    let refused = |change: &dyn Fn(&mut Batch)| {
        let mut b = batch();
        change(&mut b);
        match Batch::decode(&b.encode(), true) {
            Err(BatchError::Malformed(message)) => message,
            other => panic!("{other:?}"),
        }
    };
    assert!(
        refused(&|b| {
            b.series[0].v.pop();
        })
        .contains("3 times but 2 values")
    );
    assert!(refused(&|b| b.series[0].t[1] = 0).contains("out of order"));
    assert!(refused(&|b| b.upto_ms = b.after_ms - 1).contains("ends"));
    assert!(refused(&|b| b.series[1].t[0] = b.upto_ms + 1).contains("outside the window"));
    assert!(refused(&|b| b.session.clear()).contains("session"));
    assert!(refused(&|b| b.services[0].name.clear()).contains("services[0]"));
    assert!(refused(&|b| b.incidents[0].started_ms = i64::MAX).contains("not a time"));
    assert!(
        refused(&|b| {
            let n = MAX_SAMPLES + 1;
            b.series = vec![Series {
                metric: "m".into(),
                instance: String::new(),
                t: std::iter::once(b.after_ms + 1)
                    .chain(std::iter::repeat_n(1, n - 1))
                    .collect(),
                v: vec![1.0; n],
            }];
            b.upto_ms = b.after_ms + n as i64;
        })
        .contains("at most")
    );
}

#[test]
fn a_body_that_is_not_a_batch_is_refused_not_a_crash() {
    for body in [&b"not zlib"[..], &[0x78, 0x9c, 1, 2, 3][..]] {
        assert!(matches!(
            Batch::decode(body, true),
            Err(BatchError::Malformed(_))
        ));
    }
    assert!(matches!(
        Batch::decode(b"{\"protocol\": 1}", false),
        Err(BatchError::Malformed(_))
    ));
    // Megabytes of zeros compress to almost nothing: the inflater stops.
    let bomb = miniz_oxide::deflate::compress_to_vec_zlib(&vec![b' '; MAX_INFLATED + 1], 1);
    assert!(bomb.len() < MAX_COMPRESSED);
    let err = Batch::decode(&bomb, true).unwrap_err();
    assert!(err.to_string().contains("inflates to more than"), "{err}");
}
