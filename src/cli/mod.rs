//! The command line, behind a thin `main`: [`args`] parses, [`overrides`] applies the flags to
//! the topology and validates, and each command is one function in [`services`] (on Kafka) or
//! [`offline`] (no broker). This is the binary edge: errors become `anyhow` reports here.

pub mod args;
mod catalog;
pub mod offline;
pub mod overrides;
pub mod services;

pub use args::Cli;

use args::{Command, ServiceFlags};
use overrides::{load, Overrides};

/// Runs one parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Validate { topology } => {
            let t = load(&topology, Overrides::default())?;
            services::validate(&topology, &t)
        }
        Command::Run { service, group_id } => {
            let t = load(&service.topology, service.overrides(group_id))?;
            services::run_topology(t, true, crate::shutdown::on_signals()).await
        }
        Command::Generate { service } => {
            let t = load(&service.topology, service.overrides(None))?;
            anyhow::ensure!(
                t.generation.is_some(),
                "{} has no [generation] section",
                service.topology.display()
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
            catalog,
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
                catalog,
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
        Command::Catalog(c) => catalog::open(&c).map(drop),
        Command::Eval(e) => offline::eval(e),
        Command::Train(t) => offline::train(t),
    }
}

impl ServiceFlags {
    fn overrides(&self, group_id: Option<String>) -> Overrides {
        Overrides {
            bootstrap_servers: self.bootstrap_servers.clone(),
            group_id,
            http_listen: self.http_listen.clone(),
            transactional_id: self.transactional_id.clone(),
            ..Default::default()
        }
    }
}
