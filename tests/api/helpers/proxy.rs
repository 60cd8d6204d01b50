//! A TCP proxy in front of a dependency, to break the network under it
//! without restarting anything: cut every connection and refuse new ones
//! (`down`/`up`), or black-hole it — sockets stay open, nothing is forwarded,
//! as when packets are silently dropped — and heal it again (every old
//! connection reset, new ones forwarded).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// What connections do: forward (within one generation), or hold silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward(u64),
    BlackHole,
}

pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    mode: watch::Sender<Mode>,
    generations: AtomicU64,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
    acceptor: AbortHandle,
}

/// Closes with a reset rather than a clean shutdown.
fn reset(socket: TcpStream) {
    #[allow(deprecated)]
    let _ = socket.set_linger(Some(Duration::ZERO));
    drop(socket);
}

async fn relay(mut inbound: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    let generation = *mode.borrow_and_update();
    if let Mode::Forward(_) = generation {
        let Ok(mut outbound) = TcpStream::connect(target).await else {
            return;
        };
        tokio::select! {
            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => return,
            _ = mode.wait_for(|now| *now != generation) => {}
        }
        // Black-holed: both sides stay open and silent until healed.
        let _ = mode.wait_for(|now| matches!(now, Mode::Forward(_))).await;
        reset(outbound);
    } else {
        let _ = mode.wait_for(|now| matches!(now, Mode::Forward(_))).await;
    }
    reset(inbound);
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let (mode, _) = watch::channel(Mode::Forward(0));
        let connections: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let acceptor = {
            let up = up.clone();
            let connections = connections.clone();
            let mode = mode.clone();
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    let task = tokio::spawn(relay(inbound, target, mode.subscribe()));
                    connections.lock().unwrap().push(task.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            addr,
            up,
            mode,
            generations: AtomicU64::new(0),
            connections,
            acceptor,
        }
    }

    /// Cuts every open connection and refuses new ones.
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Keeps every connection, old and new, open and forwards nothing.
    pub fn black_hole(&self) {
        self.mode.send_replace(Mode::BlackHole);
    }

    /// Resets every connection opened before and forwards new ones again.
    pub fn heal(&self) {
        let generation = self.generations.fetch_add(1, Ordering::SeqCst) + 1;
        self.mode.send_replace(Mode::Forward(generation));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.down();
    }
}
