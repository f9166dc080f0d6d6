//! Code points of the TLCP wire format.

use crate::codec::wire_enum;

wire_enum! {
    /// The record layer's content type.
    pub enum ContentType: u8 {
        /// Switches the record layer to the keys just negotiated.
        ChangeCipherSpec = 20 => "change_cipher_spec",
        /// Warnings and errors, including close_notify.
        Alert = 21 => "alert",
        /// Handshake messages (F2 to F10).
        Handshake = 22 => "handshake",
        /// Protected application data: the payment messages.
        ApplicationData = 23 => "application_data",
    }
}

wire_enum! {
    /// The protocol version in records and hellos.
    pub enum ProtocolVersion: u16 {
        /// TLCP 1.1 (GB/T 38636-2020, and GM/T 0024-2014 before it).
        Tlcp1_1 = 0x0101 => "TLCP 1.1",
    }
}

impl ProtocolVersion {
    /// The major version byte. The record layer only accepts major version 1, so that a
    /// TLS peer (major 3) is told apart from a TLCP one before anything else is parsed.
    pub fn major(self) -> u8 {
        let [major, _] = u16::from(self).to_be_bytes();
        major
    }
}

wire_enum! {
    /// The type byte of a handshake message.
    pub enum HandshakeType: u8 {
        /// Asks the client to start a new handshake.
        HelloRequest = 0 => "hello_request",
        /// F2.
        ClientHello = 1 => "client_hello",
        /// F3.
        ServerHello = 2 => "server_hello",
        /// RFC 5077 ticket, sent before the server's ChangeCipherSpec.
        NewSessionTicket = 4 => "new_session_ticket",
        /// F4 (server) or F6 (client).
        Certificate = 11 => "certificate",
        /// F4: binds the server's encryption certificate to the randoms.
        ServerKeyExchange = 12 => "server_key_exchange",
        /// Asks for client authentication, which wearpay always requires.
        CertificateRequest = 13 => "certificate_request",
        /// Ends the server's first flight.
        ServerHelloDone = 14 => "server_hello_done",
        /// F6: the client's signature over the transcript.
        CertificateVerify = 15 => "certificate_verify",
        /// F5: the encrypted pre-master secret.
        ClientKeyExchange = 16 => "client_key_exchange",
        /// F8 to F10.
        Finished = 20 => "finished",
    }
}

wire_enum! {
    /// How serious an alert is.
    pub enum AlertLevel: u8 {
        /// The connection may continue.
        Warning = 1 => "warning",
        /// The connection ends.
        Fatal = 2 => "fatal",
    }
}

wire_enum! {
    /// Why an alert was sent: the TLS 1.2 set (RFC 5246) and GB/T 38636's own codes.
    pub enum AlertDescription: u8 {
        /// Orderly end of the connection; anything after it is a truncation attack.
        CloseNotify = 0 => "close_notify",
        /// A message arrived that the state did not allow.
        UnexpectedMessage = 10 => "unexpected_message",
        /// A record failed its MAC or AEAD tag.
        BadRecordMac = 20 => "bad_record_mac",
        /// Reserved in TLS 1.2; kept so it decodes by name.
        DecryptionFailed = 21 => "decryption_failed",
        /// A record was longer than allowed.
        RecordOverflow = 22 => "record_overflow",
        /// Decompression failed.
        DecompressionFailure = 30 => "decompression_failure",
        /// No acceptable set of parameters.
        HandshakeFailure = 40 => "handshake_failure",
        /// Reserved (SSL 3.0).
        NoCertificate = 41 => "no_certificate",
        /// A certificate was corrupt or its signature did not verify.
        BadCertificate = 42 => "bad_certificate",
        /// A certificate of a type not supported.
        UnsupportedCertificate = 43 => "unsupported_certificate",
        /// A certificate was revoked: a lost band.
        CertificateRevoked = 44 => "certificate_revoked",
        /// A certificate was expired or not yet valid.
        CertificateExpired = 45 => "certificate_expired",
        /// Some other certificate problem.
        CertificateUnknown = 46 => "certificate_unknown",
        /// A field was out of range or inconsistent.
        IllegalParameter = 47 => "illegal_parameter",
        /// The chain did not lead to a trusted CA.
        UnknownCa = 48 => "unknown_ca",
        /// Authenticated, but refused by policy.
        AccessDenied = 49 => "access_denied",
        /// A message could not be decoded.
        DecodeError = 50 => "decode_error",
        /// A signature, key exchange or Finished check failed.
        DecryptError = 51 => "decrypt_error",
        /// Reserved (export suites).
        ExportRestriction = 60 => "export_restriction",
        /// The version offered is not supported.
        ProtocolVersion = 70 => "protocol_version",
        /// The suites offered are all too weak.
        InsufficientSecurity = 71 => "insufficient_security",
        /// A local failure unrelated to the peer.
        InternalError = 80 => "internal_error",
        /// The user cancelled the handshake.
        UserCanceled = 90 => "user_canceled",
        /// Renegotiation refused.
        NoRenegotiation = 100 => "no_renegotiation",
        /// An extension that was not offered came back.
        UnsupportedExtension = 110 => "unsupported_extension",
        /// GB/T 38636: site-to-site mode is not supported.
        UnsupportedSite2site = 200 => "unsupported_site2site",
        /// GB/T 38636: the requested area is unknown.
        NoArea = 201 => "no_area",
        /// GB/T 38636: the area type is not supported.
        UnsupportedAreatype = 202 => "unsupported_areatype",
        /// GB/T 38636: IBC parameters are malformed.
        BadIbcparam = 203 => "bad_ibcparam",
        /// GB/T 38636: IBC parameters are not supported.
        UnsupportedIbcparam = 204 => "unsupported_ibcparam",
        /// GB/T 38636: an identity is needed.
        IdentityNeed = 205 => "identity_need",
    }
}

wire_enum! {
    /// The type of a hello extension.
    pub enum ExtensionType: u16 {
        /// RFC 6066 server_name.
        ServerName = 0 => "server_name",
        /// RFC 6066 max_fragment_length: a band has little RAM for records.
        MaxFragmentLength = 1 => "max_fragment_length",
        /// RFC 5077 session_ticket.
        SessionTicket = 35 => "session_ticket",
        /// wearpay's request for the patent's Finished order (center first, F9). Private-use
        /// code point; the empty body carries no data, its presence is the request.
        SeedOrder = 0xfe53 => "seed_order",
        /// RFC 5746 renegotiation_info.
        RenegotiationInfo = 0xff01 => "renegotiation_info",
    }
}

wire_enum! {
    /// A compression method; TLCP peers only ever use null.
    pub enum Compression: u8 {
        /// No compression.
        Null = 0 => "null",
    }
}

wire_enum! {
    /// A certificate type the server will accept from the client (GB/T 38636 6.4.5.5).
    pub enum ClientCertificateType: u8 {
        /// RSA signing certificate.
        RsaSign = 1 => "rsa_sign",
        /// ECC (SM2) signing certificate; TLCP keeps the TLS name.
        EcdsaSign = 64 => "ecdsa_sign",
        /// IBC (SM9) parameters.
        IbcParams = 80 => "ibc_params",
    }
}

wire_enum! {
    /// The type of a name in RFC 6066 server_name.
    pub enum ServerNameType: u8 {
        /// A DNS host name.
        HostName = 0 => "host_name",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    #[test]
    fn unknown_values_survive_a_round_trip() {
        assert_eq!(ContentType::read_bytes(&[22]), Ok(ContentType::Handshake));
        assert_eq!(ContentType::read_bytes(&[99]), Ok(ContentType::Unknown(99)));
        assert_eq!(ContentType::Unknown(99).get_encoding(), [99]);
        assert_eq!(ProtocolVersion::read_bytes(&[1, 1]), Ok(ProtocolVersion::Tlcp1_1));
        assert_eq!(ProtocolVersion::from(0x0303).major(), 3);
        assert_eq!(AlertDescription::from(205), AlertDescription::IdentityNeed);
        assert_eq!(u16::from(ExtensionType::SeedOrder), 0xfe53);
        assert_eq!(HandshakeType::Finished.as_str(), Some("finished"));
        assert_eq!(HandshakeType::Unknown(3).as_str(), None);
    }
}
