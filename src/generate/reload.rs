//! Reloading the models of a running stage: the admin endpoint and SIGHUP hold a [`Reloader`],
//! the stage's loop answers each request once the inference thread has loaded what the model
//! folders hold now (the previous models keep serving if that fails).

use super::engine::Versions;
use tokio::sync::{mpsc, oneshot};

pub type Reply = oneshot::Sender<Result<Versions, String>>;

#[derive(Clone)]
pub struct Reloader(mpsc::Sender<Reply>);

impl Reloader {
    pub fn new() -> (Reloader, mpsc::Receiver<Reply>) {
        let (tx, rx) = mpsc::channel(4);
        (Reloader(tx), rx)
    }

    pub async fn reload(&self) -> Result<Versions, String> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(tx)
            .await
            .map_err(|_| "the generation stage is not running".to_string())?;
        rx.await
            .map_err(|_| "the generation stage stopped".to_string())?
    }
}

impl crate::observe::http::Reload for Reloader {
    fn reload(&self) -> futures::future::BoxFuture<'static, Result<serde_json::Value, String>> {
        let r = self.clone();
        Box::pin(async move {
            let v = r.reload().await?;
            serde_json::to_value(v).map_err(|e| e.to_string())
        })
    }
}
