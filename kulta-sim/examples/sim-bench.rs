//! Benchmark of kulta-sim (not a test): write throughput through the real kube::Client,
//! sequential and with concurrent writers, and the cost of 1,000 open watches (memory, and the
//! time to fan one event out to all of them).
//!
//! `cargo run --release -p kulta-sim --example sim-bench [-- WATCHES WRITERS]`
//!
//! Client and server share the process, so the figures include the client's cost too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams, WatchEvent, WatchParams};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    // utime + stime from /proc/self/stat, in clock ticks (100 Hz on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after.split_whitespace().collect();
            let user: f64 = fields.get(11)?.parse().ok()?;
            let system: f64 = fields.get(12)?.parse().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or(0.0)
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("n".to_string(), "0".to_string())])),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let watches: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let writers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let sim = kulta_sim::Sim::builder().controllers(false).start().await?;
    let client = sim.client();
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    // Sequential creates and patches.
    let count = 2000;
    let started = Instant::now();
    for i in 0..count {
        api.create(&PostParams::default(), &config_map(&format!("seq-{i}")))
            .await?;
    }
    let creates = count as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    for i in 0..count {
        let patch = Patch::Merge(serde_json::json!({"data": {"n": i.to_string()}}));
        api.patch(&format!("seq-{i}"), &PatchParams::default(), &patch)
            .await?;
    }
    let patches = count as f64 / started.elapsed().as_secs_f64();
    println!("sequential: {creates:.0} creates/s, {patches:.0} merge patches/s");

    // Concurrent writers, each patching its own objects.
    let per_writer = 500;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let name = format!("seq-{}", (writer * per_writer + i) % count);
                let patch =
                    Patch::Merge(serde_json::json!({"data": {"w": format!("{writer}-{i}")}}));
                api.patch(&name, &PatchParams::default(), &patch).await?;
            }
            Ok::<_, kube::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let total = (writers * per_writer) as f64;
    println!(
        "concurrent: {writers} writers, {:.0} merge patches/s",
        total / started.elapsed().as_secs_f64()
    );

    // Watches: memory before and after opening them, and fan-out latency of one event.
    api.create(&PostParams::default(), &config_map("fanout"))
        .await?;
    let rss_before = rss_kib();
    let cpu_before = cpu_seconds();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let rv = sim.resource_version().to_string();
    let mut handles = Vec::new();
    for _ in 0..watches {
        // One client per watch: a watch holds its HTTP/1.1 connection.
        let api: Api<ConfigMap> = Api::namespaced(sim.client_as("watcher")?, "default");
        let tx = tx.clone();
        let rv = rv.clone();
        let stream = api
            .watch(
                &WatchParams::default()
                    .fields("metadata.name=fanout")
                    .timeout(290),
                &rv,
            )
            .await?;
        handles.push(tokio::spawn(async move {
            let mut stream = stream.boxed();
            while let Ok(Some(event)) = stream.try_next().await {
                if let WatchEvent::Modified(_) = event {
                    let _ = tx.send(Instant::now());
                    return;
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.open_watches() < watches && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss_after = rss_kib();
    let cpu_after = cpu_seconds();
    println!(
        "watches: {} open, RSS {} KiB -> {} KiB (+{} KiB, {:.1} KiB per watch incl. client), {:.2} s CPU to open",
        sim.open_watches(),
        rss_before,
        rss_after,
        rss_after.saturating_sub(rss_before),
        rss_after.saturating_sub(rss_before) as f64 / watches as f64,
        cpu_after - cpu_before
    );
    let sent = Instant::now();
    api.patch(
        "fanout",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"n": "1"}})),
    )
    .await?;
    let mut received = 0;
    let mut last = sent;
    while received < watches {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(at)) => {
                received += 1;
                last = last.max(at);
            }
            _ => break,
        }
    }
    println!(
        "fan-out: one event reached {received}/{watches} watchers in {:.1} ms",
        (last - sent).as_secs_f64() * 1000.0
    );
    for handle in handles {
        handle.abort();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.open_watches() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The same with raw HTTP watchers (no kube::Client per watch): the sim's own cost.
    let rss_before = rss_kib();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let rv = sim.resource_version().to_string();
    let mut handles = Vec::new();
    for _ in 0..watches {
        let mut stream = tokio::net::TcpStream::connect(sim.address()).await?;
        let request = format!(
            "GET /api/v1/namespaces/default/configmaps?watch=true&fieldSelector=metadata.name%3Dfanout&resourceVersion={rv} HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer raw-watcher\r\n\r\n"
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, request.as_bytes()).await?;
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            let mut buffer = vec![0u8; 64 * 1024];
            let mut seen = Vec::new();
            loop {
                match tokio::io::AsyncReadExt::read(&mut stream, &mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        seen.extend_from_slice(&buffer[..n]);
                        if seen.windows(10).any(|w| w == b"\"MODIFIED\"") {
                            let _ = tx.send(Instant::now());
                            return;
                        }
                    }
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.open_watches() < watches && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rss_after = rss_kib();
    println!(
        "raw watches: {} open, RSS +{} KiB ({:.1} KiB per watch, sim side plus a socket and a 64 KiB read buffer each)",
        sim.open_watches(),
        rss_after.saturating_sub(rss_before),
        rss_after.saturating_sub(rss_before) as f64 / watches as f64,
    );
    let sent = Instant::now();
    api.patch(
        "fanout",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"data": {"n": "2"}})),
    )
    .await?;
    let mut received = 0;
    let mut last = sent;
    while received < watches {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(at)) => {
                received += 1;
                last = last.max(at);
            }
            _ => break,
        }
    }
    println!(
        "raw fan-out: one event reached {received}/{watches} watchers in {:.1} ms",
        (last - sent).as_secs_f64() * 1000.0
    );
    for handle in handles {
        handle.abort();
    }
    sim.shutdown().await;
    Ok(())
}
