//! The tokio adapter on real TCP loopback: echo, resumption, large data both ways, failures.
#![allow(clippy::unwrap_used)]
mod common;

extern crate alloc;

use alloc::sync::Arc;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wearpay_tlcp::stream::system_time;
use wearpay_tlcp::tokio_stream::TokioStream;
use wearpay_tlcp::{
    ClientConfig, ClientConnection, Error, Event, NegotiatedOrder, Profile, ServerConfig, ServerConnection,
};

/// Serves `n` connections, echoing each record until close_notify, then answering it.
async fn echo_server(listener: TcpListener, config: Arc<ServerConfig>, n: usize) -> Vec<Result<Vec<Event>, String>> {
    let mut results = Vec::new();
    for _ in 0..n {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = TokioStream::new(ServerConnection::new(config.clone()), tcp);
        let result = async {
            tls.handshake().await?;
            let mut buf = vec![0u8; 20_000];
            loop {
                let n = tls.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                tls.write_all(&buf[..n]).await?;
            }
            assert!(tls.conn.peer_closed(), "ended without close_notify");
            tls.shutdown().await?;
            Ok::<_, std::io::Error>(())
        }
        .await;
        results.push(result.map(|()| tls.take_events()).map_err(|e| e.to_string()));
    }
    results
}

async fn connect(config: &Arc<ClientConfig>, addr: core::net::SocketAddr) -> TokioStream<ClientConnection, TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    TokioStream::new(ClientConnection::new(config.clone(), system_time()).unwrap(), tcp)
}

fn summary(events: &[Event]) -> wearpay_tlcp::HandshakeSummary {
    match events.first() {
        Some(Event::HandshakeComplete(s)) => s.clone(),
        other => panic!("no handshake event: {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn echo_and_resume_over_tcp_in_both_profiles() {
    for (client_profile, order) in [(Profile::Seed, NegotiatedOrder::Seed), (Profile::Tlcp, NegotiatedOrder::Tlcp)] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(echo_server(listener, Arc::new(server_config(Profile::Auto)), 2));
        let client_cfg = Arc::new(client_config(client_profile));
        for round in 0..2 {
            let mut tls = connect(&client_cfg, addr).await;
            tls.handshake().await.unwrap();
            let s = summary(&tls.take_events());
            assert_eq!(s.order, order);
            assert_eq!(s.resumed, round == 1, "round {round}");
            tls.write_all(b"OrderQuery").await.unwrap();
            let mut buf = [0u8; 10];
            tls.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"OrderQuery");
            tls.shutdown().await.unwrap();
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
            assert!(tls.conn.peer_closed(), "the server's close_notify did not arrive");
        }
        let results = server.await.unwrap();
        for (round, r) in results.into_iter().enumerate() {
            let events = r.unwrap();
            assert_eq!(summary(&events).resumed, round == 1);
            assert!(events.contains(&Event::PeerClosed));
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_mebibyte_each_way_with_small_fragments_and_split_halves() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(echo_server(listener, Arc::new(server_config(Profile::Auto)), 1));
    let mut cfg = client_config(Profile::Auto);
    cfg.max_fragment_length = Some(wearpay_tlcp::msgs::MaxFragmentLength::Pow9);
    let mut tls = connect(&Arc::new(cfg), addr).await;
    tls.handshake().await.unwrap();
    assert_eq!(tls.conn.max_fragment_len(), 512);
    let data: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 251) as u8).collect();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let writer = async {
        for chunk in data.chunks(50_000) {
            wr.write_all(chunk).await.unwrap();
        }
        wr.shutdown().await.unwrap();
    };
    let reader = async {
        let mut back = Vec::new();
        rd.read_to_end(&mut back).await.unwrap();
        back
    };
    let ((), back) = tokio::join!(writer, reader);
    assert_eq!(back.len(), data.len());
    assert!(back == data);
    let tls = rd.unsplit(wr);
    assert!(tls.conn.peer_closed());
    server.await.unwrap().pop().unwrap().unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_server_name_fails_both_ends_with_an_alert() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(echo_server(listener, Arc::new(server_config(Profile::Auto)), 1));
    let mut cfg = client_config(Profile::Auto);
    cfg.server_name = "bank.example".into();
    let mut tls = connect(&Arc::new(cfg), addr).await;
    let err = tls.handshake().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(matches!(tls.protocol_error(), Some(Error::Certificate(_))), "{err}");
    // Later calls answer the same.
    assert!(tls.write_all(b"x").await.is_err());
    let server_err = server.await.unwrap().pop().unwrap().unwrap_err();
    assert!(server_err.contains("bad_certificate") || server_err.contains("BadCertificate"), "{server_err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_that_hangs_up_mid_handshake_is_an_eof_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hangup = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        // Read the whole ClientHello record (unread bytes would make the close a reset).
        let mut header = [0u8; 5];
        tcp.read_exact(&mut header).await.unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
        tcp.read_exact(&mut body).await.unwrap();
    });
    let mut tls = connect(&Arc::new(client_config(Profile::Auto)), addr).await;
    let err = tls.handshake().await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
    hangup.await.unwrap();
}
