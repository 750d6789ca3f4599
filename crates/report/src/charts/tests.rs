use super::*;
use crate::{PERCENTILES, PhaseKey};
use pushbench_model::TransportKind;
use pushbench_model::rows::{PercentileRow, SecondRow, SummaryRow, SweepRow};
use std::collections::BTreeMap;
use std::path::PathBuf;

const NAMES: [&str; 5] = [
    "latency_percentiles",
    "bytes_per_message",
    "timeseries",
    "server_cost",
    "bandwidth",
];

fn row(label: &str, kind: &str, repetition: u32, delivered: u64) -> SummaryRow {
    SummaryRow {
        clients: 100,
        duration_s: 10.0,
        messages_delivered: delivered,
        message_bytes: 290,
        bytes_per_message: if delivered > 0 { 310.0 } else { 0.0 },
        setup_bytes: 16_500,
        server_cpu_s: 1.5,
        server_peak_rss_bytes: 40_000_000,
        ..SummaryRow::empty(label, TransportKind::from_name(kind).unwrap(), repetition)
    }
}

/// A distribution rising from `low` at p0 by `factor` per step of the nines scale.
fn distribution(label: &str, rep: u32, low: f64, factor: f64) -> Vec<PercentileRow> {
    PERCENTILES
        .iter()
        .map(|&p| PercentileRow {
            transport: label.into(),
            repetition: rep,
            percentile: p,
            value: if p >= 100.0 {
                low * factor.powi(7)
            } else {
                low * factor.powf(-(1.0 - p / 100.0).log10())
            },
            sweep_dimension: None,
            sweep_value: None,
        })
        .collect()
}

fn seconds(label: &str, rep: u32, rate: u64, latency_us: u64) -> Vec<SecondRow> {
    (0..12)
        .map(|s| SecondRow {
            transport: label.into(),
            repetition: rep,
            second: s,
            messages_delivered: if s == 0 { 0 } else { rate },
            bytes_up: rate * 20,
            bytes_down: rate * 300,
            latency_p50_us: latency_us / 2,
            latency_p99_us: if s == 0 { 0 } else { latency_us },
            connections: 100,
            in_window: (3..10).contains(&s),
            sweep_dimension: None,
            sweep_value: None,
        })
        .collect()
}

/// Two poll labels sharing a kind, one WebSocket transport repeated twice.
fn run() -> RunData {
    let phases = [
        ("poll-250ms", "poll", 1, 125_000.0, 2.0),
        ("poll-1s", "poll", 1, 500_000.0, 1.5),
        ("websocket", "websocket", 1, 900.0, 3.0),
        ("websocket", "websocket", 2, 950.0, 3.0),
    ];
    let mut data = RunData {
        dir: "synthetic".into(),
        meta: crate::tests::meta("synthetic", 2),
        summary: Vec::new(),
        latency: BTreeMap::new(),
        bandwidth: BTreeMap::new(),
        timeseries: BTreeMap::new(),
        sweep: Vec::new(),
    };
    for (label, kind, rep, latency, factor) in phases {
        let key = PhaseKey::new(label, None, rep);
        data.summary.push(row(label, kind, rep, 10_000));
        data.latency
            .insert(key.clone(), distribution(label, rep, latency, factor));
        data.bandwidth
            .insert(key.clone(), distribution(label, rep, 3_000.0, 1.1));
        let latency_us = (latency * 2.0) as u64;
        data.timeseries
            .insert(key, seconds(label, rep, 1_000, latency_us));
    }
    data
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pushbench-charts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn renders_every_chart_as_xml_naming_every_transport() {
    let run = run();
    let charts = render(&run).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, NAMES);
    for chart in &charts {
        assert!(chart.title.ends_with("— synthetic"), "{}", chart.title);
        let doc = roxmltree::Document::parse(&chart.svg)
            .unwrap_or_else(|e| panic!("{}: not XML: {e}", chart.name));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let text: String = doc.descendants().filter_map(|n| n.text()).collect();
        for label in ["poll-250ms", "poll-1s", "websocket"] {
            assert!(text.contains(label), "{} does not name {label}", chart.name);
        }
    }
}

#[test]
fn writes_svg_and_png_files_and_no_temporary_ones() {
    let dir = temp_dir("write").join("charts");
    let charts = write(&run(), &dir).unwrap();
    assert_eq!(charts.len(), 5);
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = NAMES
        .iter()
        .flat_map(|n| [format!("{n}.png"), format!("{n}.svg")])
        .collect();
    expected.sort();
    assert_eq!(files, expected);
    for chart in &charts {
        let svg = std::fs::read_to_string(dir.join(format!("{}.svg", chart.name))).unwrap();
        assert_eq!(svg, chart.svg);
        let png = std::fs::read(dir.join(format!("{}.png", chart.name))).unwrap();
        assert_eq!(png[..8], [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        assert!(
            png.len() > 5 * 1024,
            "{}.png is {} bytes",
            chart.name,
            png.len()
        );
    }
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// The title is the only thing in the top rows of a PNG: dark pixels there are text drawn
/// with the bundled font.
#[test]
fn png_text_is_drawn() {
    let dir = temp_dir("text");
    write(&run(), &dir).unwrap();
    let png = std::fs::read(dir.join("latency_percentiles.png")).unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), latency::Latency.size());
    let dark = (0..img.width())
        .flat_map(|x| (0..30).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|c| *c < 100))
        .count();
    assert!(dark > 200, "{dark} dark pixels in the title band");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_kind_keeps_its_colour_across_runs_and_shared_kinds_are_shaded() {
    let a = run();
    let mut b = run();
    b.summary.retain(|r| r.kind == TransportKind::WebSocket);
    for r in &mut b.summary {
        r.transport = "ws".into();
    }
    // Okabe-Ito reddish purple, the first (only) websocket label in both runs.
    assert_eq!(transport_color(&a, "websocket"), (204, 121, 167));
    assert_eq!(transport_color(&b, "ws"), (204, 121, 167));
    assert_eq!(css_color(&b, "ws"), "#cc79a7");
    // Okabe-Ito orange for the first poll label, a different shade for the second.
    assert_eq!(transport_color(&a, "poll-250ms"), (230, 159, 0));
    assert_ne!(transport_color(&a, "poll-1s"), (230, 159, 0));
    let css = css_color(&a, "poll-1s");
    assert!(
        css.len() == 7 && css.starts_with('#') && css[1..].chars().all(|c| c.is_ascii_hexdigit())
    );
}

/// [`run`] with the raw stream ahead of it: 290-byte messages cost 291 bytes on a raw
/// stream (the message and its newline) and 294 in a WebSocket frame (RFC 6455: a 2-byte
/// header and a 16-bit length from 126 bytes), and the WebSocket's median is 12 µs later.
fn run_with_raw() -> RunData {
    let mut run = run();
    for r in &mut run.summary {
        r.latency_p50_us = if r.kind == TransportKind::WebSocket {
            512.0
        } else {
            100_000.0
        };
        r.latency_p99_us = r.latency_p50_us * 2.0;
        if r.kind == TransportKind::WebSocket {
            r.bytes_per_message = 294.0;
        }
    }
    let raw = SummaryRow {
        bytes_per_message: 291.0,
        latency_p50_us: 500.0,
        latency_p99_us: 1000.0,
        ..row("raw", "raw", 1, 10_000)
    };
    run.summary.insert(0, raw);
    let key = PhaseKey::new("raw", None, 1);
    run.latency.insert(key, distribution("raw", 1, 500.0, 2.0));
    run
}

#[test]
fn readings_express_the_other_transports_over_the_raw_stream() {
    let run = run_with_raw();
    let reading = |name: &str| {
        charts_of(&run)
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap()
            .reading(&run)
    };
    let bytes = reading("bytes_per_message");
    assert!(
        bytes.contains("Over the raw stream (raw, the baseline): poll-250ms +19.0 B, poll-1s +19.0 B, websocket +3.0 B."),
        "{bytes}"
    );
    assert!(bytes.contains("Relative to raw: "), "{bytes}");
    let latency = reading("latency_percentiles");
    assert!(
        latency.contains("Over the raw stream (raw, the baseline): p50 poll-250ms +99.50 ms, poll-1s +99.50 ms, websocket +12 µs; p99 "),
        "{latency}"
    );
    assert!(latency.contains("websocket +24 µs."), "{latency}");
    // The same run without it reads as before: WebSocket is the yardstick.
    let plain = run.at(None);
    let mut plain = plain;
    plain.summary.retain(|r| r.kind != TransportKind::Raw);
    let bytes = charts_of(&plain)[1].reading(&plain);
    assert!(!bytes.contains("raw stream"), "{bytes}");
    assert!(bytes.contains("Relative to websocket: "), "{bytes}");
}

#[test]
fn the_raw_stream_is_grey_and_its_legend_says_it_is_the_baseline() {
    let run = run_with_raw();
    let (r, g, b) = transport_color(&run, "raw");
    assert!(r == g && g == b, "a neutral grey: {:?}", (r, g, b));
    for chart in render(&run).unwrap() {
        let doc = roxmltree::Document::parse(&chart.svg).unwrap();
        let text: String = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(text.contains("raw (baseline)"), "{}", chart.name);
    }
}

#[test]
fn degenerate_runs_render() {
    let mut zero = run();
    for r in &mut zero.summary {
        r.messages_delivered = 0;
        r.bytes_per_message = 0.0;
        r.clients = 0;
    }
    for points in zero.latency.values_mut().chain(zero.bandwidth.values_mut()) {
        for p in points {
            p.value = 0.0;
        }
    }
    for seconds in zero.timeseries.values_mut() {
        for s in seconds {
            *s = SecondRow {
                messages_delivered: 0,
                latency_p99_us: 0,
                in_window: false,
                ..s.clone()
            };
        }
    }
    assert_eq!(render(&zero).unwrap().len(), 5);

    let mut single = run();
    single
        .summary
        .retain(|r| r.transport == "websocket" && r.repetition == 1);
    single
        .latency
        .retain(|k, _| *k == PhaseKey::new("websocket", None, 1));
    single.bandwidth.clear();
    single.timeseries.clear();
    let dir = temp_dir("single");
    let charts = write(&single, &dir).unwrap();
    assert!(charts.iter().all(|c| c.svg.contains("websocket")));
    std::fs::remove_dir_all(&dir).unwrap();

    let empty = RunData {
        summary: Vec::new(),
        latency: BTreeMap::new(),
        bandwidth: BTreeMap::new(),
        timeseries: BTreeMap::new(),
        ..run()
    };
    assert_eq!(render(&empty).unwrap().len(), 5);
}

#[test]
fn ratios_skip_repetitions_without_a_denominator() {
    let mut run = run();
    run.summary[2].messages_delivered = 0;
    // websocket: repetition 1 delivered nothing, so only repetition 2 counts.
    assert_eq!(
        mean_ratio(&run, "websocket", SummaryRow::setup_bytes_per_message),
        Some(1.65)
    );
    run.summary[3].messages_delivered = 0;
    assert_eq!(
        mean_ratio(&run, "websocket", SummaryRow::setup_bytes_per_message),
        None
    );
}

/// `run()`'s phases at 100 and 1,000 clients, with the sweep rows a run would pool.
fn sweep_run() -> RunData {
    let plain = run();
    let mut data = RunData {
        summary: Vec::new(),
        latency: BTreeMap::new(),
        bandwidth: BTreeMap::new(),
        timeseries: BTreeMap::new(),
        ..plain.clone()
    };
    for value in [100.0, 1000.0] {
        let point = pushbench_model::SweepPoint {
            dimension: pushbench_model::SweepDimension::Clients,
            value,
        };
        for r in &plain.summary {
            data.summary.push(SummaryRow {
                sweep_dimension: Some(point.dimension),
                sweep_value: Some(point.value),
                ..r.clone()
            });
        }
        let at = |k: &PhaseKey| PhaseKey::new(k.transport.clone(), Some(point), k.repetition);
        for (k, v) in &plain.latency {
            data.latency.insert(at(k), v.clone());
        }
        for (k, v) in &plain.timeseries {
            data.timeseries.insert(at(k), v.clone());
        }
        for label in ["poll-250ms", "poll-1s", "websocket"] {
            data.sweep.push(SweepRow {
                repetitions: 1,
                messages_delivered: 10.0 * value,
                latency_p50_us: value,
                latency_p99_us: 3.0 * value,
                bytes_per_message: 40.0,
                server_cpu_s: value / 1000.0,
                ..SweepRow::empty(label, data.kind_of(label).unwrap(), point)
            });
        }
    }
    data
}

#[test]
fn a_sweep_adds_three_charts_against_the_swept_dimension() {
    let charts = render(&sweep_run()).unwrap();
    let names: Vec<&str> = charts.iter().map(|c| c.name.as_str()).collect();
    let mut expected = vec![
        "latency_vs_clients",
        "bytes_per_message_vs_clients",
        "server_cpu_vs_clients",
    ];
    expected.extend(NAMES);
    assert_eq!(names, expected);
    for chart in &charts {
        let doc = roxmltree::Document::parse(&chart.svg).unwrap();
        let text: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        for label in ["poll-250ms", "poll-1s", "websocket"] {
            assert!(
                text.contains(&label),
                "{} does not name {label}",
                chart.name
            );
        }
        if chart.name.contains("_vs_") {
            // The x axis is ticked at the two points and says what they are.
            assert!(
                text.contains(&"100") && text.contains(&"1000"),
                "{}",
                chart.name
            );
            assert!(
                text.iter().any(|t| t.starts_with("concurrent clients")),
                "{}",
                chart.name
            );
        } else {
            assert!(
                chart.title.ends_with("at clients=1000 — synthetic"),
                "a single-point chart names its point: {}",
                chart.title
            );
        }
    }
    let latency = &charts[0].svg;
    assert!(latency.contains("p50") && latency.contains("p99"));
}

#[test]
fn a_sweeps_readings_give_the_others_over_the_raw_stream_at_its_largest_point() {
    let mut run = sweep_run();
    for value in [100.0, 1000.0] {
        let point = pushbench_model::SweepPoint {
            dimension: pushbench_model::SweepDimension::Clients,
            value,
        };
        let row = SummaryRow {
            sweep_dimension: Some(point.dimension),
            sweep_value: Some(point.value),
            ..row("raw", "raw", 1, 10_000)
        };
        run.summary.insert(0, row);
        // 3 bytes and 12 µs (p50; 30 µs at p99) below every other transport.
        run.sweep.push(SweepRow {
            repetitions: 1,
            messages_delivered: 10.0 * value,
            latency_p50_us: value - 12.0,
            latency_p99_us: 3.0 * value - 30.0,
            bytes_per_message: 37.0,
            server_cpu_s: value / 1000.0,
            ..SweepRow::empty("raw", TransportKind::Raw, point)
        });
    }
    let charts = charts_of(&run);
    let latency = charts[0].reading(&run);
    assert!(
        latency.contains(" Over the raw stream (raw) at clients=1000: p50 poll-250ms +12 µs, poll-1s +12 µs, websocket +12 µs; p99 poll-250ms +30 µs, poll-1s +30 µs, websocket +30 µs."),
        "{latency}"
    );
    let bytes = charts[1].reading(&run);
    assert!(
        bytes.ends_with(" Over the raw stream (raw) at clients=1000: bytes per message poll-250ms +3.0 B, poll-1s +3.0 B, websocket +3.0 B."),
        "{bytes}"
    );
}

#[test]
fn a_sweep_point_without_deliveries_leaves_a_gap() {
    let mut run = sweep_run();
    for r in &mut run.sweep {
        if r.sweep_value == 100.0 {
            r.messages_delivered = 0.0;
        }
    }
    // Nothing to draw at 100 clients: the charts still render, with the other point.
    let charts = render(&run).unwrap();
    assert!(charts[0].svg.contains("websocket"));
}

#[test]
fn a_round_trip_sweep_marks_one_two_and_three_transits() {
    let mut run = sweep_run();
    let rtt = |v: f64| pushbench_model::SweepPoint {
        dimension: pushbench_model::SweepDimension::Rtt,
        value: v,
    };
    // Points at 100 and 1000 ms become 0 and 200 ms; websocket on one transit (rtt/2 =
    // 100 ms = 100,000 µs at 200 ms), the polls on two.
    for r in &mut run.sweep {
        let ms = if r.sweep_value == 100.0 { 0.0 } else { 200.0 };
        let transits = if r.transport == "websocket" { 1.0 } else { 2.0 };
        r.sweep_dimension = rtt(ms).dimension;
        r.sweep_value = ms;
        r.latency_p50_us = transits * ms * 1000.0 / 2.0 + 500.0;
        r.latency_p99_us = r.latency_p50_us;
    }
    for r in &mut run.summary {
        r.sweep_dimension = Some(pushbench_model::SweepDimension::Rtt);
        r.sweep_value = Some(if r.sweep_value == Some(100.0) {
            0.0
        } else {
            200.0
        });
    }
    let charts = render(&run).unwrap();
    let latency = charts.iter().find(|c| c.name == "latency_vs_rtt").unwrap();
    for label in ["1 transit (rtt/2)", "2 transits", "3 transits"] {
        assert!(latency.svg.contains(label), "{label}");
    }
    // At 200 ms a transit is 100 ms: websocket's 100.5 ms is 1.0 of them, the polls' 200.5
    // ms 2.0.
    let reading = charts_of(&run)
        .into_iter()
        .find(|c| c.name() == "latency_vs_rtt")
        .unwrap()
        .reading(&run);
    assert!(
        reading.contains("websocket 1.0 (p99 1.0)") && reading.contains("poll-1s 2.0"),
        "{reading}"
    );
    // Other sweeps have no transits.
    let clients = render(&sweep_run()).unwrap();
    assert!(!clients[0].svg.contains("transit"));
}
