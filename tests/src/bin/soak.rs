//! `soak`: the client side of bench/soak.sh. Opens many connections to a running shardgate,
//! runs the soak workload for a while, samples the proxy's memory and file descriptors, and
//! checks every acknowledged row on the backends. Exits 1 when a row or an answer is wrong.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use mysql_async::prelude::Queryable;
use shardgate_config::Topology;
use shardgate_tests::soak::client::SoakClient;
use shardgate_tests::soak::process::ProcessSample;
use shardgate_tests::soak::{error_label, placement, ErrorCounts, TABLE, TABLE_COLUMNS};

#[derive(Debug, Parser)]
struct Args {
    /// The routing-rules file the proxy serves (for the backends and the layout).
    #[arg(long)]
    config: std::path::PathBuf,
    /// The proxy's process id, to sample its memory and file descriptors.
    #[arg(long)]
    proxy_pid: Option<u32>,
    #[arg(long, default_value_t = 2000)]
    clients: usize,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// The average rest of a client between two operations, in milliseconds.
    #[arg(long, default_value_t = 50)]
    think_ms: u64,
    #[arg(long)]
    user: String,
    #[arg(long)]
    password: String,
}

fn sample(pid: Option<u32>, when: &str) -> Option<ProcessSample> {
    let s = pid.and_then(ProcessSample::of);
    match s {
        Some(s) => println!("proxy {when:<20} {s}"),
        None => println!("proxy {when:<20} (not sampled)"),
    }
    s
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let topology = Topology::load(&args.config).context("loading the config")?;
    let (host, port) = topology
        .listen
        .rsplit_once(':')
        .context("the config's listen address")?;
    let opts: mysql_async::Opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host.to_string())
        .tcp_port(port.parse().context("the listen port")?)
        .user(Some(args.user.clone()))
        .pass(Some(args.password.clone()))
        .db_name(Some(topology.schema.clone()))
        .into();
    println!(
        "soak: {} clients for {} s, {} ms average think time",
        args.clients, args.seconds, args.think_ms
    );
    let start_sample = sample(args.proxy_pid, "at start:");

    let mut admin = mysql_async::Conn::new(opts.clone()).await?;
    admin
        .query_drop(format!("DROP TABLE IF EXISTS {TABLE}"))
        .await?;
    admin
        .query_drop(format!("CREATE TABLE {TABLE} {TABLE_COLUMNS}"))
        .await?;
    admin.disconnect().await?;

    // Connect every client, 50 at a time.
    let connect_started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(50));
    let mut connecting = Vec::new();
    for _ in 0..args.clients {
        let opts = opts.clone();
        let gate = gate.clone();
        connecting.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            mysql_async::Conn::new(opts).await
        }));
    }
    let mut conns = Vec::new();
    let mut connect_errors = ErrorCounts::new();
    for task in connecting {
        match task.await? {
            Ok(conn) => conns.push(conn),
            Err(e) => *connect_errors.entry(error_label(&e)).or_default() += 1,
        }
    }
    println!(
        "connected {} of {} clients in {:.1} s; connect errors: {}",
        conns.len(),
        args.clients,
        connect_started.elapsed().as_secs_f64(),
        show(&connect_errors)
    );
    let connected_sample = sample(args.proxy_pid, "all connected:");

    let stop = Arc::new(AtomicBool::new(false));
    let running: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(index, conn)| {
            let client = SoakClient {
                index,
                opts: opts.clone(),
                think: Duration::from_millis(args.think_ms),
                stop: stop.clone(),
            };
            tokio::spawn(client.run(conn))
        })
        .collect();
    let started = Instant::now();
    let mut minute = 1;
    while started.elapsed() < Duration::from_secs(args.seconds) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if started.elapsed() >= Duration::from_secs(60 * minute) {
            sample(args.proxy_pid, &format!("after {minute} min:"));
            minute += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let mut reports = Vec::new();
    let mut open = Vec::new();
    for task in running {
        let (report, conn) = task.await?;
        reports.push(report);
        open.extend(conn);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let end_sample = sample(args.proxy_pid, "at end:");
    let still_open = open.len();
    for conn in open {
        let _ = conn.disconnect().await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed_sample = sample(args.proxy_pid, "after disconnect:");

    let operations: u64 = reports.iter().map(|r| r.operations).sum();
    let reconnects: u64 = reports.iter().map(|r| r.reconnects).sum();
    let mut errors = ErrorCounts::new();
    for r in &reports {
        for (label, n) in &r.errors {
            *errors.entry(label.clone()).or_default() += n;
        }
    }
    println!(
        "operations: {operations} ({:.0}/s); {still_open} connections open at the end; reconnects: {reconnects}",
        operations as f64 / elapsed
    );
    println!("errors by code: {}", show(&errors));
    let wrong: Vec<&String> = reports.iter().flat_map(|r| &r.wrong_reads).collect();
    println!("wrong answers: {}", wrong.len());
    for w in wrong.iter().take(10) {
        println!("  {w}");
    }
    let ledgers: Vec<_> = reports.iter().map(|r| &r.ledger).collect();
    let rows = placement::check(&topology, &ledgers).await?;
    println!(
        "rows on the backends: {} found; {} acknowledged and {} uncertain checked: missing {}, misplaced {}, duplicated {}, wrong amount {}, never acknowledged {}",
        rows.found_rows,
        rows.acknowledged,
        rows.uncertain,
        rows.missing,
        rows.misplaced,
        rows.duplicated,
        rows.wrong_amount,
        rows.unexpected
    );
    for e in &rows.examples {
        println!("  {e}");
    }
    if let (Some(a), Some(b), Some(c), Some(d)) =
        (start_sample, connected_sample, end_sample, closed_sample)
    {
        println!(
            "proxy growth: RSS {:+.1} MiB connected, {:+.1} MiB at the end, {:+.1} MiB after disconnect; fds {:+} / {:+} / {:+}",
            (b.rss_kib as f64 - a.rss_kib as f64) / 1024.0,
            (c.rss_kib as f64 - a.rss_kib as f64) / 1024.0,
            (d.rss_kib as f64 - a.rss_kib as f64) / 1024.0,
            b.fds as i64 - a.fds as i64,
            c.fds as i64 - a.fds as i64,
            d.fds as i64 - a.fds as i64,
        );
    }
    if !wrong.is_empty() || !rows.clean() {
        println!("soak: FAILED");
        std::process::exit(1);
    }
    println!("soak: every acknowledged row is present and where its key routes");
    Ok(())
}

fn show(counts: &ErrorCounts) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
