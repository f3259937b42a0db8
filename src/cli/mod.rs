//! The command line, behind a thin `main`: [`args`] parses, [`overrides`] applies the flags to
//! the topology and validates, and each command is one function in [`services`] (on Kafka) or
//! [`offline`] (no broker). This is the binary edge: errors become `anyhow` reports here.

pub mod args;
pub mod offline;
pub mod overrides;
pub mod services;

pub use args::Cli;

use args::Command;
use overrides::{load, Overrides};

/// Runs one parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate { topology } => {
            let t = load(&topology, Overrides::default())?;
            services::validate(&topology, &t)
        }
        Command::Run {
            topology,
            bootstrap_servers,
            group_id,
            http_listen,
            transactional_id,
        } => {
            let o = Overrides {
                bootstrap_servers,
                group_id,
                http_listen,
                transactional_id,
                ..Default::default()
            };
            services::run_topology(load(&topology, o)?, true, crate::shutdown::on_signals()).await
        }
        Command::Generate {
            topology,
            bootstrap_servers,
            http_listen,
            transactional_id,
        } => {
            let o = Overrides {
                bootstrap_servers,
                http_listen,
                transactional_id,
                ..Default::default()
            };
            let t = load(&topology, o)?;
            anyhow::ensure!(
                t.generation.is_some(),
                "{} has no [generation] section",
                topology.display()
            );
            services::run_topology(t, false, crate::shutdown::on_signals()).await
        }
        Command::Recommender {
            topology,
            bootstrap_servers,
            group_id,
            listen,
            snapshot,
            snapshot_interval_s,
        } => {
            let o = Overrides {
                bootstrap_servers,
                recommender_group_id: group_id,
                recommender_listen: listen,
                snapshot,
                snapshot_interval_s,
                ..Default::default()
            };
            services::recommender(load(&topology, o)?, crate::shutdown::on_signals()).await
        }
        Command::Replay {
            dataset,
            topology,
            bootstrap_servers,
            speed,
            limit,
            new_item_fraction,
            seed,
        } => {
            let o = Overrides {
                bootstrap_servers,
                ..Default::default()
            };
            let a = services::ReplayArgs {
                dataset,
                speed,
                limit,
                new_item_fraction,
                seed,
            };
            services::replay(load(&topology, o)?, a).await
        }
        Command::Demo {
            topology,
            events,
            new_products,
        } => services::demo(load(&topology, Overrides::default())?, events, new_products).await,
        Command::BenchGeneration(a) => offline::bench_generation(a).await,
        Command::TorchCheck => offline::torch_check(),
        Command::Eval(e) => offline::eval(e),
        Command::Train(t) => offline::train(t),
    }
}
