//! The texts of the tips beyond Exchange (whole audience, visible recipients, read receipt,
//! sent on behalf, forwarded outside), in English and Japanese.

use std::fmt::Write as _;

use bytestring::ByteString;

use super::{JaSpaced, Texts, name_list, text, tip_text};
use crate::domain::Lang;

impl Texts {
    pub fn whole_audience(lang: Lang, people: u32, from_groups: u32, upper_bound: bool) -> String {
        match lang {
            Lang::En => {
                let reach = if upper_bound { "at most " } else { "" };
                let groups = if from_groups > 0 {
                    text!(" ({from_groups} of them through groups)")
                } else {
                    String::new()
                };
                text!(
                    "This message will reach {reach}{people} people{groups}. Are you sure you want to send to this many people?"
                )
            }
            Lang::Ja => {
                let reach = if upper_bound { "最大 " } else { "" };
                let groups = if from_groups > 0 {
                    text!("（うちグループ経由 {from_groups} 人）")
                } else {
                    String::new()
                };
                text!(
                    "このメッセージは{reach}{people} 人に届きます{groups}。本当にこれだけ多くの人に送信しますか？"
                )
            }
        }
    }

    pub fn recipients_visible(lang: Lang, visible: u32, outside_domains: &[String]) -> String {
        let mut s = match lang {
            Lang::En => {
                text!("All {visible} addresses in To and Cc are visible to every recipient.")
            }
            Lang::Ja => {
                text!("宛先（To）と CC の {visible} 件のアドレスは、すべての受信者に表示されます。")
            }
        };
        if outside_domains.len() >= 2 {
            let n = outside_domains.len();
            let list = name_list(lang, outside_domains);
            let _ = match lang {
                Lang::En => write!(
                    s,
                    " Recipients at {n} outside domains ({list}) will see each other's addresses."
                ),
                Lang::Ja => write!(
                    s,
                    "組織外の {n} 個のドメイン（{list}）の受信者に、互いのアドレスが見えます。"
                ),
            };
        }
        s.push_str(match lang {
            Lang::En => " Consider Bcc.",
            Lang::Ja => "BCC の利用を検討してください。",
        });
        s
    }

    pub fn read_receipt_ignored(lang: Lang) -> String {
        match lang {
            Lang::En => "You asked for a read receipt, but your organisation sends none: the request will be ignored.".to_owned(),
            Lang::Ja => "開封確認を要求していますが、組織では開封確認を送信しないため、この要求は無視されます。".to_owned(),
        }
    }

    /// `names`: the recipients that will never send a receipt (may be empty).
    pub fn read_receipt(lang: Lang, names: &[String]) -> String {
        let mut s = String::new();
        if !names.is_empty() {
            let list = name_list(lang, names);
            let _ = match lang {
                Lang::En => write!(s, "{list} will never send a read receipt. "),
                Lang::Ja => write!(s, "{}からは開封確認が送信されません。", JaSpaced(&list)),
            };
        }
        s.push_str(match lang {
            Lang::En => "A read receipt does not prove that the message was delivered.",
            Lang::Ja => "開封確認は配信の証明にはなりません。",
        });
        s
    }

    /// How recipients' mail clients may show a sender sending on behalf of another address.
    pub fn shown_on_behalf(lang: Lang, send_as: &str, own: &str) -> String {
        match lang {
            Lang::En => text!("{send_as} (on behalf of {own})"),
            Lang::Ja => text!("{send_as}（{own} 代理）"),
        }
    }

    pub fn sent_on_behalf(lang: Lang, shown_as: &str) -> String {
        match lang {
            Lang::En => text!(
                "Recipients may see the sender as \"{shown_as}\": mail from this address does not leave through its own domain's server."
            ),
            Lang::Ja => text!(
                "受信者には送信者が「{shown_as}」と表示される場合があります。このアドレスのメールは、そのドメインのサーバーを経由せずに送信されるためです。"
            ),
        }
    }

    pub fn forwarded_externally(lang: Lang, who: &str) -> ByteString {
        let who_ = JaSpaced(who);
        match lang {
            Lang::En => tip_text!("Mail to {who} is forwarded outside your organisation."),
            Lang::Ja => tip_text!("{who_}宛てのメールは組織外に転送されます。"),
        }
    }
}
