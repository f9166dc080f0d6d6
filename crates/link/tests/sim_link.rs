#![allow(clippy::unwrap_used, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
//! The simulated link over real TCP on loopback, band and bridge in two threads.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use wearpay_link::sim::{Direction, DropAfter, LinkConfig, Role, SimCentral, SimLink, SimPeripheral};
use wearpay_link::{AirProfile, Command, Error, ErrorStatus, KeepaliveStatus, Message, fragment_count};

/// Connects a band to a bridge; returns (central, peripheral).
fn pair(central: LinkConfig, band: LinkConfig) -> (SimLink, SimLink) {
    let listener = SimCentral::bind("127.0.0.1:0", central).unwrap();
    let addr = listener.local_addr().unwrap();
    let band = thread::spawn(move || SimPeripheral::connect(addr, band).unwrap());
    let central = listener.accept().unwrap();
    (central, band.join().unwrap())
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 256) as u8).collect()
}

const SIZES: [usize; 18] = [0, 1, 16, 17, 18, 19, 20, 36, 37, 100, 241, 242, 244, 1000, 2449, 4096, 10240, 65535];

fn echo_round_trip(profile: AirProfile) {
    let (mut central, mut band) = pair(LinkConfig::new(profile), LinkConfig::new(profile));
    assert_eq!(central.att_mtu(), profile.att_mtu);
    assert_eq!(band.max_fragment_len(), central.max_fragment_len());
    let max = band.max_fragment_len();
    let echo = thread::spawn(move || {
        for _ in SIZES {
            let m = band.recv().unwrap();
            band.send(m.cmd, &m.data).unwrap();
        }
        band
    });
    for len in SIZES {
        let sent = data(len);
        central.send(Command::Msg, &sent).unwrap();
        assert_eq!(central.recv().unwrap(), Message::new(Command::Msg, sent));
    }
    let band = echo.join().unwrap();
    let fragments: u64 = SIZES.iter().map(|&n| fragment_count(n, max).unwrap() as u64).sum();
    let bytes: u64 = SIZES.iter().map(|&n| n as u64).sum();
    for stats in [central.stats(), band.stats()] {
        for dir in [stats.to_peripheral, stats.to_central] {
            assert_eq!(dir.messages, SIZES.len() as u64);
            assert_eq!(dir.fragments, fragments);
            // Each fragment adds its header: 3 bytes for the first, 1 for the others.
            assert_eq!(dir.fragment_bytes, bytes + 3 * SIZES.len() as u64 + (fragments - SIZES.len() as u64));
        }
    }
}

#[test]
fn round_trip_at_mtu_23() {
    echo_round_trip(AirProfile::ble42());
}

#[test]
fn round_trip_at_mtu_247() {
    echo_round_trip(AirProfile::ble5_1m());
}

#[test]
fn ten_kib_at_mtu_23_fragments_and_airtime() {
    let (mut central, mut band) = pair(LinkConfig::default(), LinkConfig::default());
    let payload = data(10 * 1024);
    let sender = thread::spawn(move || {
        band.send(Command::Msg, &payload).unwrap();
        band
    });
    let m = central.recv().unwrap();
    let band = sender.join().unwrap();
    assert_eq!(m.data, data(10 * 1024));
    // 17 bytes in the first fragment, 19 in each continuation: 1 + ceil(10223 / 19) = 540,
    // the last one carrying a single byte.
    for stats in [band.stats().to_central, central.stats().to_central] {
        assert_eq!(stats.messages, 1);
        assert_eq!(stats.fragments, 540);
        assert_eq!(stats.ll_packets, 540);
        // 539 full PDUs of 1+4+2+27+4+3 = 41 bytes, the last of 41 − 18 = 23.
        assert_eq!(stats.bytes_over_air, 539 * 41 + 23);
        // 4 PDUs per 30 ms event: 135 events. The last holds three full exchanges
        // (328 µs + T_IFS + 80 µs empty PDU, T_IFS between them) and the short one (184 µs).
        let last_event_us = 3 * (328 + 150 + 80 + 150) + (184 + 150 + 80);
        assert_eq!(stats.airtime, Duration::from_micros(134 * 30_000 + last_event_us));
    }
    assert_eq!(band.stats().to_peripheral, Default::default());
}

#[test]
fn ten_kib_at_mtu_247_is_much_faster() {
    let (mut central, mut band) = pair(LinkConfig::new(AirProfile::ble5_1m()), LinkConfig::new(AirProfile::ble5_1m()));
    band.send(Command::Msg, &data(10 * 1024)).unwrap();
    central.recv().unwrap();
    let stats = band.stats().to_central;
    // 241 + 42 × 243 ≥ 10240 > 241 + 41 × 243.
    assert_eq!(stats.fragments, 43);
    // 6 PDUs of up to 2120 µs per event: 8 events, so 7 intervals and a part.
    assert!(stats.airtime > Duration::from_millis(7 * 30) && stats.airtime < Duration::from_millis(8 * 30));
}

#[test]
fn mtu_is_negotiated_and_control_point_bounds_fragments() {
    let band = LinkConfig { control_point_length: 100, ..LinkConfig::new(AirProfile::ble5_1m()) };
    let central = LinkConfig::new(AirProfile { att_mtu: 185, ..AirProfile::ble5_1m() });
    let (mut central, mut band) = pair(central, band);
    for link in [&central, &band] {
        assert_eq!(link.att_mtu(), 185);
        assert_eq!(link.control_point_length(), 100);
        assert_eq!(link.max_fragment_len(), 100);
    }
    assert_eq!(central.role(), Role::Central);
    assert_eq!(band.role(), Role::Peripheral);
    central.send(Command::Msg, &data(1000)).unwrap();
    assert_eq!(band.recv().unwrap().data, data(1000));
    assert_eq!(band.stats().to_peripheral.fragments, fragment_count(1000, 100).unwrap() as u64);

    // A proposal below 23 is raised to 23.
    let (central, _band) =
        pair(LinkConfig::new(AirProfile { att_mtu: 5, ..AirProfile::ble42() }), LinkConfig::default());
    assert_eq!(central.att_mtu(), 23);
    assert_eq!(central.max_fragment_len(), 20);
}

#[test]
fn bad_control_point_length_is_refused() {
    let bad = LinkConfig { control_point_length: 10, ..LinkConfig::default() };
    assert!(matches!(SimPeripheral::connect("127.0.0.1:9", bad), Err(Error::ControlPointLengthOutOfRange(10))));

    // A band that announces one anyway is refused by the bridge.
    let listener = SimCentral::bind("127.0.0.1:0", LinkConfig::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let rogue = thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // Peripheral hello: version 1, ATT_MTU 23, control point length 10.
        s.write_all(&[0x01, 0x00, 0x05, 0x01, 0x00, 23, 0x00, 10]).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    assert!(matches!(listener.accept(), Err(Error::ControlPointLengthOutOfRange(10))));
    // The bridge answered its hello (version 1, ATT_MTU 23), then closed.
    assert_eq!(rogue.join().unwrap(), [0x02, 0x00, 0x03, 0x01, 0x00, 23]);
}

#[test]
fn drop_after_n_bytes_closes_both_directions() {
    let fault = DropAfter { direction: Direction::ToCentral, bytes: 5000 };
    let central = LinkConfig { drop_after: Some(fault), ..LinkConfig::default() };
    let (mut central, mut band) = pair(central, LinkConfig::default());
    band.send(Command::Msg, &data(100)).unwrap();
    assert_eq!(central.recv().unwrap().data, data(100));

    band.send(Command::Msg, &data(10 * 1024)).unwrap();
    // The first message took 108 bytes (100 of data, 3 + 5 × 1 of headers in 6 fragments);
    // 244 20-byte fragments more fit under 5000.
    match central.recv() {
        Err(Error::FaultInjected { bytes }) => assert_eq!(bytes, 108 + 244 * 20),
        other => panic!("{other:?}"),
    }
    assert_eq!(central.stats().to_central.fragments, 6 + 244);
    assert_eq!(central.stats().to_central.messages, 1);
    assert!(matches!(central.send(Command::Msg, b"x"), Err(Error::Disconnected)));
    assert!(matches!(central.recv(), Err(Error::Disconnected)));
    // The band notices in both directions.
    assert!(matches!(band.recv_timeout(Duration::from_secs(5)), Err(Error::Disconnected)));
    assert!(matches!(band.send(Command::Msg, b"x"), Err(Error::Disconnected)));
}

#[test]
fn drop_on_the_sending_side_mid_message() {
    let fault = DropAfter { direction: Direction::ToPeripheral, bytes: 1000 };
    let central = LinkConfig { drop_after: Some(fault), ..LinkConfig::default() };
    let (mut central, mut band) = pair(central, LinkConfig::default());
    assert!(matches!(central.send(Command::Msg, &data(4096)), Err(Error::FaultInjected { bytes: 1000 })));
    // The band got 50 fragments of a 216-fragment message, then lost the link.
    assert!(matches!(band.recv_timeout(Duration::from_secs(5)), Err(Error::Disconnected)));
    assert!(matches!(band.send(Command::Msg, b"x"), Err(Error::Disconnected)));
    assert!(matches!(central.recv(), Err(Error::Disconnected)));
    assert_eq!(central.stats().to_peripheral.fragments, 50);
    assert_eq!(central.stats().to_peripheral.messages, 0);
}

#[test]
fn bad_seq_gets_an_error_frame_and_the_link_recovers() {
    let (mut central, mut band) = pair(LinkConfig::default(), LinkConfig::default());
    // An initial fragment of a 40-byte MSG, then SEQ 1 where 0 belongs.
    central.send_raw(&[0x83, 0x00, 40, 1, 2, 3]).unwrap();
    central.send_raw(&[0x01, 4, 5, 6]).unwrap();
    assert!(matches!(band.recv(), Err(Error::UnexpectedSeq { expected: 0, got: 1 })));
    let reply = central.recv().unwrap();
    assert_eq!(reply, Message::error(ErrorStatus::InvalidSeq));
    assert_eq!(reply.data, [0x04]);

    // The next message goes through.
    central.send(Command::Msg, &data(300)).unwrap();
    assert_eq!(band.recv().unwrap().data, data(300));
    // The refused fragments are counted, but not as a message.
    assert_eq!(band.stats().to_peripheral.messages, 1);
    assert_eq!(band.stats().to_peripheral.fragments, 2 + fragment_count(300, 20).unwrap() as u64);
}

#[test]
fn other_framing_faults_get_their_status() {
    let (mut central, mut band) = pair(LinkConfig::default(), LinkConfig::default());
    let cases: [(&[u8], ErrorStatus); 4] = [
        (&[0x00, 1, 2], ErrorStatus::InvalidSeq),
        (&[0x83, 0], ErrorStatus::InvalidLength),
        (&[0x90, 0, 0], ErrorStatus::InvalidCommand),
        (&[0x83, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], ErrorStatus::InvalidLength),
    ];
    for (value, status) in cases {
        central.send_raw(value).unwrap();
        assert_eq!(band.recv().unwrap_err().status(), Some(status));
        assert_eq!(central.recv().unwrap().error_status(), Some(status));
    }
    central.send(Command::Ping, b"still here").unwrap();
    assert_eq!(band.recv().unwrap(), Message::new(Command::Ping, *b"still here"));
}

#[test]
fn stalled_message_times_out_with_an_error_frame() {
    let band = LinkConfig { fragment_timeout: Duration::from_millis(200), ..LinkConfig::default() };
    let (mut central, mut band) = pair(LinkConfig::default(), band);
    central.send_raw(&[0x83, 0x00, 40, 1, 2, 3]).unwrap();
    let started = Instant::now();
    assert!(matches!(band.recv(), Err(Error::FragmentTimeout { waited_ms }) if waited_ms > 200));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(central.recv().unwrap(), Message::error(ErrorStatus::Timeout));
    central.send(Command::Msg, b"again").unwrap();
    assert_eq!(band.recv().unwrap().data, b"again");
}

#[test]
fn recv_timeout_leaves_the_link_usable() {
    let (mut central, mut band) = pair(LinkConfig::default(), LinkConfig::default());
    let started = Instant::now();
    assert!(matches!(band.recv_timeout(Duration::from_millis(100)), Err(Error::RecvTimeout)));
    assert!(started.elapsed() >= Duration::from_millis(100));
    central.send(Command::Msg, b"late").unwrap();
    assert_eq!(band.recv().unwrap().data, b"late");
}

#[test]
fn pacing_takes_the_airtime() {
    let paced = LinkConfig { pace: true, ..LinkConfig::default() };
    let (mut central, mut band) = pair(LinkConfig::default(), paced);
    // 100 bytes: 6 fragments, two connection events.
    let started = Instant::now();
    band.send(Command::Msg, &data(100)).unwrap();
    let airtime = band.stats().to_central.airtime;
    assert!(airtime > Duration::from_millis(30));
    assert!(started.elapsed() >= airtime);
    central.recv().unwrap();
}

#[test]
fn stream_adapter_carries_bytes_and_handles_control_messages() {
    let (central, mut band) = pair(LinkConfig::default(), LinkConfig::default());
    let stats = central.stats_handle();
    let mut bridge = central.into_stream();

    let band_side = thread::spawn(move || {
        band.send(Command::Ping, b"are you there").unwrap();
        band.send(Command::Keepalive, &[KeepaliveStatus::UserPresenceNeeded.as_u8()]).unwrap();
        band.send(Command::Msg, &[]).unwrap();
        band.send(Command::Msg, b"hello ").unwrap();
        band.send(Command::Msg, b"bridge").unwrap();
        // The stream answered the PING before handing out data.
        assert_eq!(band.recv().unwrap(), Message::new(Command::Ping, *b"are you there"));
        let m = band.recv().unwrap();
        assert_eq!(m.cmd, Command::Msg);
        assert_eq!(m.data.len(), 65535);
        assert_eq!(band.recv().unwrap().data.len(), 70_000 - 65535);
        band.send(Command::Error, &[ErrorStatus::Busy.as_u8()]).unwrap();
        band.send(Command::Cancel, &[]).unwrap();
        band.close();
    });

    let mut got = [0u8; 12];
    bridge.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello bridge");
    // One write of 70 000 bytes: one MSG of 65535, the caller's write_all sends the rest.
    assert_eq!(bridge.write(&data(70_000)).unwrap(), 65535);
    bridge.write_all(&data(70_000)[65535..]).unwrap();
    bridge.flush().unwrap();

    let e = bridge.read(&mut got).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionAborted);
    assert!(matches!(e.get_ref().unwrap().downcast_ref::<Error>(), Some(Error::PeerError(ErrorStatus::Busy))));
    let e = bridge.read(&mut got).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionAborted);
    assert!(matches!(e.get_ref().unwrap().downcast_ref::<Error>(), Some(Error::Cancelled)));
    band_side.join().unwrap();
    // The band hung up: end of stream.
    assert_eq!(bridge.read(&mut got).unwrap(), 0);
    assert!(bridge.write(b"x").is_err());
    let s = stats.get();
    assert_eq!(s.to_central.messages, 7);
    assert_eq!(s.to_peripheral.messages, 3);
}

#[test]
fn split_halves_send_and_receive_at_once() {
    let (central, band) = pair(LinkConfig::default(), LinkConfig::default());
    let (mut reader, writer) = central.split();
    assert_eq!(reader.role(), Role::Central);
    assert_eq!(writer.role(), Role::Central);
    let (mut band_reader, band_writer) = band.split();
    const N: usize = 40;
    // Both ends send and receive at the same time, each direction on its own thread, with
    // messages large enough (2 KiB: over 100 fragments at MTU 23) to fill socket buffers.
    let msg = |i: usize| -> Vec<u8> { data(2048).into_iter().map(|b| b ^ i as u8).collect() };
    let central_tx = thread::spawn(move || {
        for i in 0..N {
            writer.send(Command::Msg, &msg(i)).unwrap();
        }
        writer
    });
    let band_tx = thread::spawn(move || {
        for i in 0..N {
            band_writer.send(Command::Msg, &msg(i + 100)).unwrap();
        }
        band_writer
    });
    let band_rx = thread::spawn(move || {
        for i in 0..N {
            assert_eq!(band_reader.recv().unwrap().data, msg(i));
        }
        band_reader
    });
    for i in 0..N {
        assert_eq!(reader.recv().unwrap().data, msg(i + 100));
    }
    let writer = central_tx.join().unwrap();
    let band_writer = band_tx.join().unwrap();
    let mut band_reader = band_rx.join().unwrap();
    let s = reader.stats();
    assert_eq!((s.to_central.messages, s.to_peripheral.messages), (N as u64, N as u64));
    assert_eq!(writer.stats(), s);

    // A framing fault on the receiving half is answered through the sending side.
    band_writer.send_raw(&[0x00, 1, 2]).unwrap();
    assert_eq!(reader.recv().unwrap_err().status(), Some(ErrorStatus::InvalidSeq));
    assert_eq!(band_reader.recv().unwrap(), Message::error(ErrorStatus::InvalidSeq));

    // Closing the sending half ends a receive blocked on the other thread at once, and
    // the peer sees the link gone.
    let blocked = thread::spawn(move || {
        let started = Instant::now();
        let r = reader.recv_timeout(Duration::from_secs(20));
        (r, started.elapsed())
    });
    thread::sleep(Duration::from_millis(100));
    writer.close();
    let (r, waited) = blocked.join().unwrap();
    assert!(matches!(r, Err(Error::Disconnected)), "{r:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert!(matches!(writer.send(Command::Msg, b"x"), Err(Error::Disconnected)));
    assert!(matches!(band_reader.recv_timeout(Duration::from_secs(5)), Err(Error::Disconnected)));
    assert!(matches!(band_writer.send(Command::Msg, b"x"), Err(Error::Disconnected)));
}
