//! `[tips]`: each tip kind switched on or off on its own.

use serde::Deserialize;

use crate::domain::TipKind;

/// Per-kind switches, beyond Exchange: each tip kind on or off on its own (all on by default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TipSwitches {
    pub invalid_internal_recipient: bool,
    pub mailbox_full: bool,
    pub auto_reply: bool,
    pub custom: bool,
    pub restricted_recipient: bool,
    pub external_recipient: bool,
    pub large_audience: bool,
    pub moderated_recipient: bool,
    pub reply_all_on_bcc: bool,
    pub message_too_large: bool,
    // Beyond Exchange.
    pub whole_audience: bool,
    pub recipients_visible: bool,
    pub read_receipt: bool,
    pub sent_on_behalf: bool,
    pub forwarded_externally: bool,
}

impl Default for TipSwitches {
    fn default() -> Self {
        Self {
            invalid_internal_recipient: true,
            mailbox_full: true,
            auto_reply: true,
            custom: true,
            restricted_recipient: true,
            external_recipient: true,
            large_audience: true,
            moderated_recipient: true,
            reply_all_on_bcc: true,
            message_too_large: true,
            whole_audience: true,
            recipients_visible: true,
            read_receipt: true,
            sent_on_behalf: true,
            forwarded_externally: true,
        }
    }
}

impl TipSwitches {
    pub(super) fn get(&self, k: TipKind) -> bool {
        match k {
            TipKind::InvalidInternalRecipient => self.invalid_internal_recipient,
            TipKind::MailboxFull => self.mailbox_full,
            TipKind::AutoReply => self.auto_reply,
            TipKind::Custom => self.custom,
            TipKind::RestrictedRecipient => self.restricted_recipient,
            TipKind::ExternalRecipient => self.external_recipient,
            TipKind::LargeAudience => self.large_audience,
            TipKind::ModeratedRecipient => self.moderated_recipient,
            TipKind::ReplyAllOnBcc => self.reply_all_on_bcc,
            TipKind::MessageTooLarge => self.message_too_large,
            TipKind::WholeAudience => self.whole_audience,
            TipKind::RecipientsVisible => self.recipients_visible,
            TipKind::ReadReceipt => self.read_receipt,
            TipKind::SentOnBehalf => self.sent_on_behalf,
            TipKind::ForwardedExternally => self.forwarded_externally,
        }
    }
}
