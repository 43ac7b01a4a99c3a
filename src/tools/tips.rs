//! The `mailtips tips` client: sends one draft to a running server and prints its tips for a
//! person to read, so an administrator can check a draft by hand.

use std::fmt::Write as _;
use std::path::PathBuf;

use crate::api::pb;
use crate::domain::ByteSize;

/// `mailtips tips`: ask a running server for a draft's tips and print them.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server, e.g. http://127.0.0.1:50051, or https://… for a TLS port.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub token: TokenArgs,
    #[command(flatten)]
    pub draft: DraftArgs,
    /// Print the raw response as protobuf debug output too.
    #[arg(long)]
    pub raw: bool,
}

/// TLS settings for an `https://` server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM file of the CA to trust for the server's certificate (default: the system's).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate to present (with --key).
    #[arg(long, value_name = "PEM", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, value_name = "PEM", requires = "cert")]
    pub key: Option<PathBuf>,
}

impl TlsArgs {
    /// The channel to `server`, with these TLS settings when it is `https://`.
    ///
    /// # Errors
    /// A file that cannot be read, TLS options with an `http://` URL, or a bad URL.
    pub(crate) fn endpoint(&self, server: &str) -> anyhow::Result<tonic::transport::Endpoint> {
        use anyhow::Context as _;
        let endpoint = tonic::transport::Endpoint::from_shared(server.to_owned())
            .with_context(|| format!("{server}: not a URL"))?;
        Ok(match self.client_config(server)? {
            Some(tls) => endpoint.tls_config(tls)?,
            None => endpoint,
        })
    }

    /// These TLS settings for `server`: `None` for an `http://` URL.
    ///
    /// # Errors
    /// A file that cannot be read, or TLS options with an `http://` URL.
    pub(crate) fn client_config(
        &self,
        server: &str,
    ) -> anyhow::Result<Option<tonic::transport::ClientTlsConfig>> {
        use anyhow::Context as _;
        use tonic::transport::{Certificate, ClientTlsConfig, Identity};
        let read = |p: &PathBuf| {
            std::fs::read(p).with_context(|| format!("while reading {}", p.display()))
        };
        if !server.starts_with("https://") {
            anyhow::ensure!(
                self.ca_file.is_none() && self.cert.is_none(),
                "--ca-file, --cert and --key need an https:// --server"
            );
            return Ok(None);
        }
        let mut tls = ClientTlsConfig::new();
        match &self.ca_file {
            Some(ca) => tls = tls.ca_certificate(Certificate::from_pem(read(ca)?)),
            None => tls = tls.with_native_roots(),
        }
        if let (Some(cert), Some(key)) = (&self.cert, &self.key) {
            tls = tls.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        Ok(Some(tls))
    }
}

/// The bearer token for a server that requires authentication (docs/security.md).
#[derive(Clone, Default, clap::Args)]
pub struct TokenArgs {
    /// A bearer token (a JWT from your identity provider). Visible to other local users in
    /// the process list: prefer --token-file.
    #[arg(long, value_name = "JWT", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the bearer token (surrounding whitespace ignored).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Never prints the token.
impl std::fmt::Debug for TokenArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenArgs")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .finish()
    }
}

impl TokenArgs {
    /// The `authorization` header value these arguments give, if any.
    ///
    /// # Errors
    /// An unreadable or empty token file, or a token that cannot be a header value.
    pub(crate) fn header(
        &self,
    ) -> anyhow::Result<Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>> {
        use anyhow::Context as _;
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => t.trim().to_owned(),
            (None, Some(p)) => std::fs::read_to_string(p)
                .with_context(|| format!("while reading {}", p.display()))?
                .trim()
                .to_owned(),
            (None, None) => return Ok(None),
        };
        anyhow::ensure!(!token.is_empty(), "the bearer token is empty");
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| anyhow::anyhow!("the bearer token has characters a header cannot hold"))?;
        Ok(Some(value))
    }
}

/// A draft described on the command line.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DraftArgs {
    /// The sender address.
    #[arg(long)]
    pub from: String,
    /// To recipients (repeat, or separate with commas). A draft needs at least one recipient
    /// in --to, --cc or --bcc.
    #[arg(long, required_unless_present_any = ["cc", "bcc"])]
    pub to: Vec<String>,
    /// Cc recipients.
    #[arg(long)]
    pub cc: Vec<String>,
    /// Bcc recipients.
    #[arg(long)]
    pub bcc: Vec<String>,
    /// The message size, e.g. 30MB.
    #[arg(long)]
    pub size: Option<String>,
    /// The original To of a reply-all.
    #[arg(long = "original-to", value_name = "ORIGINAL_TO")]
    pub reply_all_to: Vec<String>,
    /// The original Cc of a reply-all.
    #[arg(long = "original-cc", value_name = "ORIGINAL_CC")]
    pub reply_all_cc: Vec<String>,
    /// The draft is a reply-all; give the original To/Cc with --original-to/--original-cc.
    #[arg(long)]
    pub reply_all: bool,
    /// Language of the texts, e.g. ja.
    #[arg(long, default_value = "")]
    pub locale: String,
    /// The draft asks for a read receipt.
    #[arg(long)]
    pub read_receipt: bool,
}

/// Runs `mailtips tips`: one call, the tips printed for a person.
///
/// # Errors
/// A bad `--size`, a server that cannot be reached, or a call the server refused.
pub async fn run(args: Args) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let request = request(&args.draft).map_err(|e| anyhow::anyhow!("--size: {e}"))?;
    let channel = args
        .tls
        .endpoint(&args.server)?
        .connect()
        .await
        .with_context(|| format!("while connecting to {}", args.server))?;
    let mut client = pb::mail_tips_service_client::MailTipsServiceClient::new(channel);
    let mut call = tonic::Request::new(request.clone());
    if let Some(value) = args.token.header()? {
        call.metadata_mut().insert("authorization", value);
    }
    let response = client
        .get_mail_tips(call)
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    print!("{}", render(&request, &response));
    if args.raw {
        println!("{response:#?}");
    }
    Ok(())
}

/// Builds the request for `args`.
///
/// # Errors
/// A message when the size does not parse.
pub(crate) fn request(args: &DraftArgs) -> Result<pb::GetMailTipsRequest, String> {
    let mut recipients = Vec::new();
    for (list, field) in [
        (&args.to, pb::RecipientField::To),
        (&args.cc, pb::RecipientField::Cc),
        (&args.bcc, pb::RecipientField::Bcc),
    ] {
        for a in list
            .iter()
            .flat_map(|a| a.split([',', ';']))
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            recipients.push(pb::Recipient {
                address: a.to_owned(),
                field: field as i32,
            });
        }
    }
    let size = match &args.size {
        Some(s) => ByteSize::parse(s)?.0,
        None => 0,
    };
    let reply_all = (args.reply_all
        || !args.reply_all_to.is_empty()
        || !args.reply_all_cc.is_empty())
    .then(|| pb::ReplyAllContext {
        original_to: args.reply_all_to.clone(),
        original_cc: args.reply_all_cc.clone(),
    });
    Ok(pb::GetMailTipsRequest {
        sender: args.from.clone(),
        recipients,
        message_size_bytes: size,
        reply_all,
        tip_kinds: Vec::new(),
        locale: args.locale.clone(),
        read_receipt_requested: args.read_receipt,
    })
}

fn kind_name(k: i32) -> &'static str {
    pb::TipKind::try_from(k)
        .map_or("UNKNOWN", |k| k.as_str_name())
        .trim_start_matches("TIP_KIND_")
}

fn field_name(f: i32) -> &'static str {
    match pb::RecipientField::try_from(f) {
        Ok(pb::RecipientField::To) => "To",
        Ok(pb::RecipientField::Cc) => "Cc",
        Ok(pb::RecipientField::Bcc) => "Bcc",
        _ => "?",
    }
}

/// What a recipient resolved to, in words.
fn kind_label(k: i32) -> &'static str {
    match pb::ResolvedKind::try_from(k) {
        Ok(pb::ResolvedKind::Mailbox) => "mailbox",
        Ok(pb::ResolvedKind::Group) => "group",
        Ok(pb::ResolvedKind::Contact) => "contact",
        Ok(pb::ResolvedKind::Unknown) => "not in the directory",
        _ => "not looked up",
    }
}

/// Where a recipient's domain is, in words.
fn scope_label(s: i32) -> &'static str {
    match pb::RecipientScope::try_from(s) {
        Ok(pb::RecipientScope::Internal) => "internal",
        Ok(pb::RecipientScope::External) => "external",
        Ok(pb::RecipientScope::RemoteInternal) => "partner domain, treated as internal",
        _ => "malformed address",
    }
}

/// Renders a response for a terminal.
pub(crate) fn render(req: &pb::GetMailTipsRequest, resp: &pb::GetMailTipsResponse) -> String {
    let mut s = String::new();
    let tip_lines = |s: &mut String, tips: &[pb::MailTip]| {
        for t in tips {
            let text = t.text.replace('\n', " ");
            let _ = writeln!(s, "    {:<28} {text}", kind_name(t.kind));
        }
    };
    for (r, req_r) in resp.recipients.iter().zip(&req.recipients) {
        let (kind, scope) = (kind_label(r.resolved_as), scope_label(r.scope));
        let name = if r.display_name.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", r.display_name)
        };
        let _ = writeln!(
            s,
            "{:<4} {}{name}  [{kind}, {scope}]",
            format!("{}:", field_name(req_r.field)),
            r.address
        );
        if r.tips.is_empty() && r.pending.is_empty() {
            let _ = writeln!(s, "    (no tips)");
        }
        tip_lines(&mut s, &r.tips);
        if !r.pending.is_empty() {
            let names: Vec<&str> = r.pending.iter().map(|k| kind_name(*k)).collect();
            let _ = writeln!(s, "    pending: {}", names.join(", "));
        }
    }
    if !resp.draft_tips.is_empty() {
        let _ = writeln!(s, "Draft:");
        tip_lines(&mut s, &resp.draft_tips);
    }
    if resp.per_mailbox_tips_skipped {
        let names: Vec<&str> = resp
            .skipped_tip_kinds
            .iter()
            .map(|k| kind_name(*k))
            .collect();
        let _ = writeln!(s, "Too many recipients: skipped {}", names.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[test]
    fn a_draft_needs_a_recipient() {
        let e = Cli::try_parse_from(["tips", "--from", "x@contoso.com"])
            .err()
            .expect("refused");
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert_eq!(e.exit_code(), 2);
        assert!(Cli::try_parse_from(["tips", "--from", "x", "--bcc", "y@contoso.com"]).is_ok());
    }

    #[test]
    fn labels_are_words() {
        let req = pb::GetMailTipsRequest {
            recipients: vec![pb::Recipient {
                address: "a@partner.example".into(),
                field: pb::RecipientField::To as i32,
            }],
            ..Default::default()
        };
        let resp = pb::GetMailTipsResponse {
            recipients: vec![pb::RecipientTips {
                address: "a@partner.example".into(),
                resolved_as: pb::ResolvedKind::Unknown as i32,
                scope: pb::RecipientScope::RemoteInternal as i32,
                ..Default::default()
            }],
            ..Default::default()
        };
        let text = render(&req, &resp);
        assert!(
            text.contains("[not in the directory, partner domain, treated as internal]"),
            "{text}"
        );
    }
}
