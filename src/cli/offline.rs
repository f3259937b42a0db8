//! The commands that need no broker: training, the offline evaluations, the generation
//! benchmark and the libtorch check. Each calls one library function and prints its result.

use super::args::{BenchArgs, EvalCommand, TrainCommand};
use anyhow::Context;
use std::path::Path;

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn train(command: TrainCommand) -> anyhow::Result<()> {
    match command {
        TrainCommand::Behavior {
            catalog,
            out,
            epochs,
            mf_epochs,
            seed,
            resume,
        } => {
            use crate::gan::train_behavior::{train, TrainBehavior};
            // One thread: small models train faster without libtorch's thread pool on 2 cores,
            // and a fixed thread count keeps runs bit-for-bit reproducible.
            tch::set_num_threads(1);
            let opts = TrainBehavior {
                out,
                gan: crate::gan::behavior::GanConfig {
                    epochs,
                    seed,
                    ..Default::default()
                },
                mf_epochs,
                resume,
            };
            let catalog = super::catalog::open(&catalog)?;
            let card = train(&opts, &catalog, true)?;
            println!(
                "{} written to {}: user recall@200 on {} held-out cold items: generated {:.4}, content tower {:.4}",
                card.version,
                opts.out.display(),
                card.run.metrics["cold_items"],
                card.run.metrics["user_recall_at_200_generated"].as_f64().unwrap_or(0.0),
                card.run.metrics["user_recall_at_200_content_tower"].as_f64().unwrap_or(0.0),
            );
        }
        TrainCommand::Reviews {
            out,
            corpus,
            epochs,
            hidden,
            seed,
            resume,
        } => {
            use crate::text::train_reviews::{train, TrainReviews};
            tch::set_num_threads(2);
            let opts = TrainReviews {
                out,
                epochs,
                hidden,
                seed,
                resume,
                corpus,
                ..Default::default()
            };
            let card = train(&opts, true)?;
            println!(
                "{} written to {}: validation NLL per piece {:.3}",
                card.version,
                opts.out.display(),
                card.run.metrics["validation_nll"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            );
        }
        TrainCommand::ReviewsGan {
            from,
            out,
            steps,
            seed,
            resume,
        } => {
            use crate::text::adversarial::{train, AdversarialConfig};
            tch::set_num_threads(2);
            let config = AdversarialConfig {
                from,
                out,
                steps,
                seed,
                resume,
                ..Default::default()
            };
            let card = train(&config, true)?;
            println!("{} written to {}", card.version, config.out.display());
        }
    }
    Ok(())
}

pub fn eval(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Reviews {
            dir,
            samples,
            seed,
            json,
            plot,
        } => {
            use crate::text::eval_reviews::{evaluate, plot_curves, render};
            if let Some(parent) = plot.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut reports = Vec::new();
            for d in &dir {
                let report = evaluate(d, samples, seed, true)?;
                println!("{}", render(&report));
                for p in report.points.iter().filter(|p| p.temperature == 1.0) {
                    for e in &p.examples {
                        println!("  {e}");
                    }
                }
                println!();
                reports.push(report);
            }
            plot_curves(&plot, &reports)?;
            println!("quality-diversity curves: {}", plot.display());
            if let Some(path) = json {
                write_json(&path, &reports)?;
            }
        }
        EvalCommand::Sequential { catalog, epochs } => {
            let beauty = catalog.catalog.is_none();
            // The catalogue is dropped once its stream is built: one copy in memory, not two.
            let stream = super::catalog::open(&catalog)?.stream();
            let r =
                crate::eval::sequential::evaluate(&stream, Default::default(), epochs, 1.0, true);
            println!("leave-one-out, full ranking, {} users: HR@10 {:.4}  NDCG@10 {:.4}  HR@20 {:.4}  NDCG@20 {:.4}", r.users, r.hr10, r.ndcg10, r.hr20, r.ndcg20);
            if beauty {
                println!("(published on this set: ICLRec HR@10 0.0744 NDCG@10 0.0403 HR@20 0.1058 NDCG@20 0.0483)");
            }
        }
        EvalCommand::Prequential { catalog, epochs } => {
            let stream = super::catalog::open(&catalog)?.stream();
            let r = crate::eval::prequential::evaluate(
                &stream,
                Default::default(),
                0.9,
                epochs,
                1.0,
                true,
            );
            println!(
                "prequential over the last 10%, {} scored events: HR@10 {:.4}  NDCG@10 {:.4}",
                r.events, r.hr10, r.ndcg10
            );
        }
        EvalCommand::Stream {
            dataset,
            catalog,
            window,
            epochs,
            variants,
            seed,
            validation,
            transfer_users,
            transfer_neighbours,
            transfer_max_neighbours,
            transfer_recent,
            transfer_idf,
            transfer_max_per_user,
            synthetic_weight,
            review_tokens,
            json,
            plot,
        } => {
            let mut catalog = super::catalog::open_for_replay(dataset, &catalog)?;
            if validation {
                catalog = crate::warmup::validation(&catalog, window);
            }
            let mut config = crate::warmup::StreamConfig {
                window,
                fit_epochs: epochs,
                seed,
                transfer: crate::warmup::transfer::TransferConfig {
                    users: transfer_users,
                    neighbours: transfer_neighbours,
                    max_neighbours: transfer_max_neighbours,
                    recent: transfer_recent,
                    idf: transfer_idf,
                    max_per_user: transfer_max_per_user,
                    ..Default::default()
                },
                ..Default::default()
            };
            config.model.synthetic_weight = synthetic_weight;
            config.model.review_tokens = review_tokens;
            let report = crate::warmup::run(&catalog, &config, &variants, true)?;
            println!("{}", crate::warmup::render(&report));
            if let Some(parent) = plot.parent() {
                std::fs::create_dir_all(parent)?;
            }
            crate::warmup::plot(&plot, &report)?;
            println!("warm-up curve: {}", plot.display());
            if let Some(path) = json {
                write_json(&path, &report)?;
            }
        }
        EvalCommand::Coldstart {
            catalog,
            epochs,
            dim,
            learning_rate,
            regularization,
            seed,
            item_dropout,
            gan_epochs,
            transfer,
            json,
        } => {
            let config = crate::eval::coldstart::Config {
                seed,
                epochs,
                bpr: crate::recommend::bpr::BprConfig {
                    dim,
                    learning_rate,
                    regularization,
                    ..Default::default()
                },
                item_dropout,
                ..Default::default()
            };
            let catalog = super::catalog::open(&catalog)?;
            let table = crate::eval::table::run(&catalog, config, gan_epochs, transfer, true);
            println!("{}", table.render());
            if let Some(path) = json {
                // Through a JSON value, whose keys are sorted: the layout of the committed
                // results in benches/results.
                write_json(&path, &serde_json::to_value(&table)?)?;
            }
        }
    }
    Ok(())
}

pub async fn bench_generation(a: BenchArgs) -> anyhow::Result<()> {
    let BenchArgs {
        products,
        device,
        cpu_threads,
        max_batch,
        batch_sizes,
        json,
    } = a;
    let report = tokio::task::spawn_blocking(move || {
        crate::generate::bench::run(products, &device, cpu_threads, &batch_sizes, max_batch)
    })
    .await??;
    println!("{}", crate::generate::bench::render(&report));
    if let Some(path) = json {
        write_json(&path, &report)?;
    }
    Ok(())
}

pub fn torch_check() -> anyhow::Result<()> {
    let device = crate::torch::device();
    crate::torch::self_check(device).context("libtorch self-check")?;
    println!(
        "libtorch ok on {} (cuda available: {})",
        crate::torch::device_name(device),
        tch::Cuda::is_available()
    );
    Ok(())
}
