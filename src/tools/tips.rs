//! The `mailtips tips` client: sends one draft to a running server and prints its tips for a
//! person to read, so an administrator can check a draft by hand.

use std::fmt::Write as _;

use crate::api::pb;
use crate::domain::ByteSize;

/// `mailtips tips`: ask a running server for a draft's tips and print them.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The server, e.g. http://127.0.0.1:50051.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    #[command(flatten)]
    pub draft: DraftArgs,
    /// Print the raw response as protobuf debug output too.
    #[arg(long)]
    pub raw: bool,
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
}

/// Runs `mailtips tips`: one call, the tips printed for a person.
///
/// # Errors
/// A bad `--size`, a server that cannot be reached, or a call the server refused.
pub async fn run(args: Args) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let request = request(&args.draft).map_err(|e| anyhow::anyhow!("--size: {e}"))?;
    let mut client =
        pb::mail_tips_service_client::MailTipsServiceClient::connect(args.server.clone())
            .await
            .with_context(|| format!("while connecting to {}", args.server))?;
    let response = client
        .get_mail_tips(request.clone())
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
