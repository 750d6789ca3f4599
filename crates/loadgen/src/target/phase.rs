//! A phase against a target: its request before the phase, the load generator publishing,
//! the generic clients subscribing, and the server's CPU and memory read from `/proc` for
//! its whole process tree (`pushbench_wire::process::tree_usage`), as pushbench's own
//! server reports its own.

use super::TargetRun;
use super::publisher::{self, PublishSpec, Published};
use crate::LoadgenError;
use crate::clients::target::TargetClient;
use crate::phase::{
    LoadgenBefore, Measured, PhaseSpec, join_workers, nonzero_or, plan_window, start_workers,
    topic_of, topics_of,
};
use crate::scenario::Pattern;
use crate::stats::{Window, WorkerStats, merge_workers};
use pushbench_model::overload::Evidence;
use pushbench_model::result::KeepingUp;
use pushbench_model::result::{PhaseResult, ProcessUsage};
use pushbench_model::target::TargetKind;
use pushbench_wire::process::{TreeUsage, reset_tree_peak_rss, tree_usage};
use std::sync::Arc;

/// The publisher thread of a phase.
type PublisherHandle = std::thread::JoinHandle<Result<Published, LoadgenError>>;

/// Runs one phase against `target`.
pub(crate) async fn run(
    spec: PhaseSpec<'_>,
    target: &TargetRun,
) -> Result<PhaseResult, LoadgenError> {
    let (sc, tp) = (spec.scenario, spec.transport);
    let topics = topics_of(sc, tp.clients);
    let phase = target.next_phase();
    let mut control_bytes = 0;
    if let Some(req) = &target.plan.before_phase {
        let payload_bytes = sc.workload.payload_bytes;
        control_bytes +=
            publisher::before_phase(target, req, topics, payload_bytes, &phase).await?;
    }
    let sub = target
        .plan
        .subscription(tp.kind)
        .expect("checked: the target declares every transport of the scenario")
        .clone();
    let server_before = usage(target, &spec)?;
    reset_tree_peak_rss(target.pid);
    let loadgen_before = LoadgenBefore::read();
    let (window, started_unix_s) = plan_window(sc, None);
    let client = TargetClient::new(sub, target.plan.kind, phase.clone());
    let workers = start_workers(&spec, topics, window, Some(Arc::new(client)), 0)?;
    let publisher = start_publisher(target, &spec, topics, phase, window)?;
    let stats = join_workers(workers).await?;
    let loadgen = loadgen_before.usage(&spec, window);
    let published = join_publisher(publisher).await?;
    let server_after = usage(target, &spec)?;
    let mut merged = merge_workers(stats);
    if let Some(p) = &published {
        // The deliveries the clients owe: every accepted message due in the window, once
        // per subscriber of its topic.
        merged.counters.messages_published = (0..tp.clients)
            .map(|i| p.in_window[topic_of(i, topics) as usize])
            .sum();
        for (a, b) in merged.errors.0.iter_mut().zip(p.errors.0) {
            *a += b;
        }
        control_bytes += p.bytes;
    }
    let server = ProcessUsage {
        cpu_s: server_after.cpu_s - server_before.cpu_s,
        peak_rss_bytes: server_after.peak_rss_bytes,
        idle_rss_bytes: nonzero_or(spec.baseline.server_bytes, server_before.rss_bytes),
    };
    let evidence = evidence(published.as_ref(), &merged, tp.clients);
    let measured = Measured {
        window,
        started_unix_s,
        // The load generator stamps what it publishes to a target on its own clock.
        clock: Vec::new(),
        merged,
        server,
        loadgen,
        control_bytes,
        keeping_up: KeepingUp::default(),
        evidence,
    };
    Ok(measured.result(&spec))
}

/// The load generator as the target's publisher, when the target takes publishes and the
/// workload broadcasts; `None` otherwise (an echo target's clients send for themselves).
fn start_publisher(
    target: &TargetRun,
    spec: &PhaseSpec<'_>,
    topics: u32,
    phase: String,
    window: Window,
) -> Result<Option<PublisherHandle>, LoadgenError> {
    let sc = spec.scenario;
    let (Some(request), Pattern::Broadcast, TargetKind::Pubsub) =
        (&target.plan.publish, sc.workload.pattern, target.plan.kind)
    else {
        return Ok(None);
    };
    let handle = publisher::start(PublishSpec {
        addr: target.addr,
        request: request.clone(),
        topics,
        rate: sc.workload.rate,
        payload: pushbench_wire::filler_payload(sc.workload.payload_bytes),
        phase,
        window,
        cancel: spec.cancel.clone(),
    })?;
    Ok(Some(handle))
}

/// What the publisher thread did, once it has ended (off the runtime's threads).
async fn join_publisher(
    publisher: Option<PublisherHandle>,
) -> Result<Option<Published>, LoadgenError> {
    let Some(handle) = publisher else {
        return Ok(None);
    };
    let published = tokio::task::spawn_blocking(move || handle.join())
        .await
        .map_err(|e| LoadgenError::Worker(e.to_string()))?
        .map_err(|_| LoadgenError::Worker("the publisher thread panicked".into()))??;
    Ok(Some(published))
}

/// A target reports neither its publishing nor its queues: the judgement has the
/// deliveries owed and the load generator's CPU, and says `unknown` for the rest.
fn evidence(published: Option<&Published>, merged: &WorkerStats, clients: u32) -> Evidence {
    Evidence {
        period_us: None,
        publisher_fell_behind_us: None,
        published: published.map(|_| merged.counters.messages_published),
        delivered: merged.counters.messages_delivered,
        burst: u64::from(clients),
        late_ticks: 0,
        slow_consumer_disconnects: None,
        loadgen_cpu_share: 0.0,
    }
}

/// The server's process tree now; an error when it has exited.
fn usage(target: &TargetRun, spec: &PhaseSpec<'_>) -> Result<TreeUsage, LoadgenError> {
    tree_usage(target.pid).ok_or_else(|| LoadgenError::TargetExited {
        name: target.plan.name.clone(),
        pid: target.pid,
        phase: format!("{} rep {}", spec.transport.label, spec.repetition),
    })
}
