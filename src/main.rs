//! The `ironspider` command.

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ironspider::config::Config;
use ironspider::{evaluate, loadgen, query, replay, serve, simulate};
use std::net::SocketAddr;
use std::path::PathBuf;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Streaming telemetry and predictive scheduling engine for Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "ironspider", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run ingest, engine and the HTTP API in one process (defaults: loopback, in memory,
    /// history under ./data).
    Serve(ServeArgs),
    /// Run SQL against a running server and print a table.
    Query {
        /// The SQL statement.
        sql: String,
        /// The server's HTTP API.
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        server: String,
        /// Print the rows as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a dataset through ingest and the engine on a virtual clock; write node scores
    /// (`OUT/node_scores.parquet`), forecasts (`OUT/forecasts.parquet`) and a report
    /// (`OUT/summary.json`).
    Replay(replay::ReplayArgs),
    /// Replay a GPU node list and pod list (Alibaba GPU trace 2023) through the placement
    /// policies with the FGD paper's protocol; write `OUT/summary.csv`,
    /// `OUT/fragmentation.csv` and `OUT/summary.png`.
    Simulate(simulate::SimulateArgs),
    /// Send deterministic OTLP/gRPC load and report throughput.
    Loadgen(loadgen::LoadgenArgs),
    /// Backtest on a real dataset with the protocol the published baselines use.
    #[command(subcommand)]
    Evaluate(Evaluate),
    /// Show the configuration.
    Config {
        /// Print the default configuration as TOML.
        #[arg(long)]
        print_default: bool,
        /// Configuration file to resolve (with environment overrides) and print.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// What `evaluate` backtests.
#[derive(Debug, Subcommand)]
enum Evaluate {
    /// The forecasters on a Bitbrains-layout folder (48 rolling origins an hour apart over
    /// each VM's last two days): `OUT/forecasts.csv`, `OUT/errors.csv`, `OUT/summary.json`,
    /// `OUT/panel.csv`.
    Forecasts(evaluate::EvaluateForecastsArgs),
    /// An anomaly detector over a folder in NAB's layout, scored by NAB's rules when it has
    /// labels: `OUT/results/ironspider/…`, `OUT/final_results.json`, `OUT/thresholds.json`.
    Anomalies(evaluate::anomalies::EvaluateAnomaliesArgs),
}

/// Flags of `serve`; each overrides the config file and the environment.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// OTLP/gRPC listen address.
    #[arg(long)]
    otlp_grpc: Option<SocketAddr>,
    /// OTLP/HTTP listen address.
    #[arg(long)]
    otlp_http: Option<SocketAddr>,
    /// HTTP API listen address (/metrics, /api/v1/...).
    #[arg(long)]
    http: Option<SocketAddr>,
    /// Data directory (Parquet history).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Window length in seconds.
    #[arg(long)]
    window: Option<u64>,
    /// Allowed lateness in seconds.
    #[arg(long)]
    lateness: Option<u64>,
    /// Most series held at once.
    #[arg(long)]
    max_series: Option<usize>,
    /// Tokio worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Reach a Kubernetes cluster with this kubeconfig: watch its nodes and pods
    /// (`[scheduler.kubernetes] kubeconfig`).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Reach the cluster IronSpider runs in through its pod's service account
    /// (`[scheduler.kubernetes] in_cluster`).
    #[arg(long)]
    in_cluster: bool,
    /// Post a Binding for every pod the extender binds (`[scheduler.kubernetes] bind`).
    #[arg(long)]
    kube_bind: bool,
    /// Carry out the rebalancer's evictions through the Eviction API instead of dry runs
    /// (`[scheduler.kubernetes] evict`).
    #[arg(long)]
    evict: bool,
    /// Push alerts to this Alertmanager (`http://host:9093`; `[alerts] alertmanager`).
    #[arg(long)]
    alertmanager: Option<String>,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(addr) = self.otlp_grpc {
            config.ingest.otlp_grpc = addr;
        }
        if let Some(addr) = self.otlp_http {
            config.ingest.otlp_http = addr;
        }
        if let Some(addr) = self.http {
            config.http.listen = addr;
        }
        if let Some(dir) = &self.data_dir {
            config.engine.data_dir = dir.clone();
        }
        if let Some(window) = self.window {
            config.engine.window_seconds = window;
        }
        if let Some(lateness) = self.lateness {
            config.engine.lateness_seconds = lateness;
        }
        if let Some(max_series) = self.max_series {
            config.engine.max_series = max_series;
        }
        let kubernetes = &mut config.scheduler.kubernetes;
        if let Some(path) = &self.kubeconfig {
            kubernetes.kubeconfig = Some(path.clone());
        }
        kubernetes.in_cluster |= self.in_cluster;
        kubernetes.bind |= self.kube_bind;
        kubernetes.evict |= self.evict;
        if let Some(url) = &self.alertmanager {
            config.alerts.alertmanager = Some(url.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime(workers: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = workers {
        builder.worker_threads(workers.max(1));
    }
    builder.enable_all().build().context("cannot start the async runtime")
}

/// Errors are printed as their chain of causes on one line each, without a backtrace
/// (which anyhow would add whenever `RUST_BACKTRACE` is set), and exit with status 1.
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli.command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            let config = args.config()?;
            runtime(args.workers)?.block_on(serve::run(config))
        }
        Command::Query { sql, server, json } => runtime(Some(1))?.block_on(async {
            let rows = query::fetch(&server, &sql).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{}", query::render(&rows));
            }
            Ok(())
        }),
        Command::Loadgen(args) => runtime(None)?.block_on(loadgen::run(args)),
        Command::Replay(args) => {
            let summary = replay::run(&args)?;
            print!("{}", summary.render());
            println!(
                "wrote {}, {}{} and {}",
                args.out.join("node_scores.parquet").display(),
                args.out.join("forecasts.parquet").display(),
                if args.alerts { format!(", {}", args.out.join("alerts.parquet").display()) } else { String::new() },
                args.out.join("summary.json").display()
            );
            Ok(())
        }
        Command::Simulate(args) => {
            let summary = simulate::run(&args)?;
            print!("{}", summary.render());
            println!("wrote summary.csv, fragmentation.csv and summary.png to {}", args.out.display());
            Ok(())
        }
        Command::Evaluate(Evaluate::Forecasts(args)) => {
            let summary = evaluate::run(&args)?;
            print!("{}", evaluate::render(&summary));
            println!("wrote forecasts.csv, errors.csv, summary.json and panel.csv to {}", args.out.display());
            Ok(())
        }
        Command::Evaluate(Evaluate::Anomalies(args)) => {
            let summary = evaluate::anomalies::run(&args)?;
            print!("{}", evaluate::anomalies::render(&summary));
            println!(
                "wrote results/ironspider/ and, when labelled, final_results.json and thresholds.json to {}",
                args.out.display()
            );
            Ok(())
        }
        Command::Config { print_default, config } => {
            let text = if print_default {
                Config::default_toml()?
            } else {
                let config = Config::load(config.as_deref())?;
                config.validate()?;
                toml::to_string_pretty(&config)?
            };
            print!("{text}");
            Ok(())
        }
    }
}
