"""The panel's words in Italian, Polish and English: a small catalogue, the seeds' own terms kept (ATTIVATO,
zlecony do autoryzacji, Richiedi certificato, ...), chosen by the browser's Accept-Language or the switch.

Italian is the portals' language and the fallback: a key missing in another language shows the Italian."""

from __future__ import annotations

from datetime import datetime

LANGUAGES = ("it", "pl", "en")
DEFAULT = "it"
LANGUAGE_NAMES = {"it": "Italiano", "pl": "Polski", "en": "English"}

CATALOGUE: dict[str, dict[str, str]] = {
    # the frame
    "panel": {"it": "Pannello", "pl": "Panel", "en": "Panel"},
    "login": {"it": "Accedi", "pl": "Zaloguj się", "en": "Log in"},
    "logout": {"it": "Esci", "pl": "Wyloguj się", "en": "Log out"},
    "email": {"it": "E-mail", "pl": "E-mail", "en": "E-mail"},
    "password": {"it": "Password", "pl": "Hasło", "en": "Password"},
    "logged_in_as": {"it": "Utente", "pl": "Użytkownik", "en": "Signed in as"},
    "logged_out": {"it": "Sessione terminata.", "pl": "Sesja zakończona.", "en": "You are logged out."},
    "session_needed": {"it": "Accedi per continuare.", "pl": "Zaloguj się, aby kontynuować.",
                       "en": "Log in to continue."},
    "customer": {"it": "Cliente", "pl": "Klient", "en": "Customer"},
    "customers": {"it": "Clienti", "pl": "Klienci", "en": "Customers"},
    "choose_customer": {"it": "Scegli il cliente", "pl": "Wybierz klienta", "en": "Choose the customer"},
    "open": {"it": "Apri", "pl": "Otwórz", "en": "Open"},
    "no_customers": {"it": "Nessun cliente collegato.", "pl": "Brak powiązanych klientów.",
                     "en": "No linked customer."},
    "granted": {"it": "Permessi", "pl": "Uprawnienia", "en": "Permissions"},
    "role_operator": {"it": "Operatore", "pl": "Operator", "en": "Operator"},
    "role_customer": {"it": "Titolare", "pl": "Właściciel", "en": "Customer user"},
    "role_accountant": {"it": "Commercialista", "pl": "Biuro rachunkowe", "en": "Accountant"},
    "refused": {"it": "Operazione non consentita", "pl": "Operacja niedozwolona", "en": "Not allowed"},
    "invalid": {"it": "Dati non validi", "pl": "Nieprawidłowe dane", "en": "Invalid input"},
    "nothing_written": {"it": "Nulla è stato modificato.", "pl": "Nic nie zostało zmienione.",
                        "en": "Nothing was changed."},
    "csrf": {"it": "Modulo scaduto o non valido: ricarica la pagina e riprova.",
             "pl": "Formularz wygasł lub jest nieprawidłowy: odśwież stronę i spróbuj ponownie.",
             "en": "The form expired or is not valid: reload the page and try again."},
    "too_large": {"it": "File troppo grande", "pl": "Plik jest za duży", "en": "File too large"},
    "not_found": {"it": "Non trovato", "pl": "Nie znaleziono", "en": "Not found"},
    # menu
    "menu_certificates": {"it": "Certificati", "pl": "Certyfikaty", "en": "Certificates"},
    "menu_invoices": {"it": "Fatture", "pl": "Faktury", "en": "Invoices"},
    "menu_delegations": {"it": "Commercialisti", "pl": "Biura rachunkowe", "en": "Accountants"},
    "menu_orders": {"it": "Ordini", "pl": "Zamówienia", "en": "Orders"},
    # the customer profile (seed 001: "Profilazione Utente")
    "menu_profile": {"it": "Profilo", "pl": "Profil", "en": "Profile"},
    "profile_title": {"it": "Profilazione Utente", "pl": "Profil klienta", "en": "Customer profile"},
    "profile_intro": {"it": "Si prega di verificare con attenzione i dati del presente form al fine di eseguire la "
                            "corretta profilazione.",
                      "pl": "Prosimy o uważne sprawdzenie danych w formularzu, aby profil był poprawny.",
                      "en": "Please check the data of this form carefully, so that the profile is right."},
    "profile_state": {"it": "Dati", "pl": "Dane", "en": "Data"},
    "profile_not_confirmed": {"it": "Non ancora confermati", "pl": "Jeszcze niepotwierdzone",
                              "en": "Not confirmed yet"},
    "profile_confirmed_on": {"it": "Confermati il {date} da {who} (condizioni versione {version})",
                             "pl": "Potwierdzone {date} przez {who} (warunki w wersji {version})",
                             "en": "Confirmed on {date} by {who} (conditions version {version})"},
    "profile_service": {"it": "Servizio", "pl": "Usługa", "en": "Service"},
    "profile_enabled": {"it": "Abilitato: contratto di intermediazione accettato",
                        "pl": "Aktywna: umowa pośrednictwa zaakceptowana",
                        "en": "Enabled: intermediation contract accepted"},
    "profile_not_enabled": {"it": "Non ancora abilitato: serve il contratto di intermediazione firmato",
                            "pl": "Jeszcze nieaktywna: potrzebna zaakceptowana umowa pośrednictwa",
                            "en": "Not enabled yet: the intermediation contract must be accepted"},
    "profile_vat": {"it": "P.IVA", "pl": "NIP", "en": "VAT number (P.IVA / NIP)"},
    "profile_name": {"it": "Denominazione", "pl": "Nazwa firmy", "en": "Company name"},
    "profile_pec_it": {"it": "PEC", "pl": "PEC (poczta certyfikowana)", "en": "PEC (certified e-mail)"},
    "profile_pec_pl": {"it": "E-mail", "pl": "E-mail", "en": "E-mail"},
    "profile_sdi_code": {"it": "Codice destinatario (ID)", "pl": "Kod odbiorcy SDI", "en": "SDI recipient code"},
    "profile_street": {"it": "Indirizzo", "pl": "Ulica i numer", "en": "Street and number"},
    "profile_postcode": {"it": "CAP", "pl": "Kod pocztowy", "en": "Postcode"},
    "profile_city": {"it": "Comune", "pl": "Miejscowość", "en": "Town"},
    "profile_province": {"it": "Provincia", "pl": "Prowincja (IT)", "en": "Province"},
    "profile_address": {"it": "Sede", "pl": "Adres", "en": "Address"},
    "profile_accept": {"it": "Accetto le condizioni", "pl": "Akceptuję warunki", "en": "I accept the conditions"},
    "profile_confirm": {"it": "CONFERMO I MIEI DATI", "pl": "POTWIERDZAM MOJE DANE", "en": "I CONFIRM MY DATA"},
    "profile_confirmed": {"it": "Dati confermati (conferma n. {number}, condizioni versione {version})",
                          "pl": "Dane potwierdzone (potwierdzenie nr {number}, warunki w wersji {version})",
                          "en": "Data confirmed (confirmation no. {number}, conditions version {version})"},
    "conditions_intro": {"it": "L'utilizzo del portale è subordinato alla firma del contratto di intermediazione. "
                               "Per abilitarsi al portale è necessario:",
                         "pl": "Korzystanie z portalu wymaga podpisania umowy pośrednictwa. Aby usługa została "
                               "włączona, należy:",
                         "en": "Using the portal requires the intermediation contract to be signed. To be enabled "
                               "you need to:"},
    "conditions_contract": {"it": "Firmare il contratto di intermediazione (uno per ogni partita IVA).",
                            "pl": "Podpisać umowę pośrednictwa (jedną dla każdego NIP).",
                            "en": "Sign the intermediation contract (one per VAT number)."},
    "conditions_agency": {"it": "Abilitare sul portale dell'Agenzia delle Entrate il mantenimento e la gestione "
                                "dell'archiviazione digitale dei propri documenti.",
                          "pl": "Włączyć w portalu Agenzia delle Entrate przechowywanie i archiwizację cyfrową "
                                "swoich dokumentów.",
                          "en": "Enable, on the Agenzia delle Entrate's portal, the keeping and digital archiving "
                                "of your documents."},
    "conditions_id": {"it": "Comunicare l'ID (codice destinatario) ai propri fornitori al fine di ricevere "
                            "correttamente le fatture.",
                      "pl": "Przekazać swój kod odbiorcy dostawcom, aby poprawnie otrzymywać faktury.",
                      "en": "Give your ID (codice destinatario) to your suppliers, so that their invoices reach you."},
    "conditions_ksef": {"it": "Concedere all'intermediario i permessi in KSeF per inviare e ricevere le fatture.",
                        "pl": "Nadać pośrednikowi uprawnienia w KSeF do wysyłania i odbierania faktur.",
                        "en": "Grant the intermediary the KSeF permissions to send and receive invoices."},
    "conditions_version": {"it": "Condizioni versione {version}", "pl": "Warunki w wersji {version}",
                           "en": "Conditions version {version}"},
    # orders (seed 003: DocFly's partner panel)
    "orders_title": {"it": "Ordini DocFly: contratti", "pl": "Zamówienia: umowy", "en": "Orders: contracts"},
    "orders_none": {"it": "Nessun ordine per questo cliente.", "pl": "Brak zamówień tego klienta.",
                    "en": "No order for this customer."},
    "orders_all": {"it": "Ordini DocFly di tutti i clienti", "pl": "Zamówienia wszystkich klientów",
                   "en": "Orders of every customer"},
    "orders_any_state": {"it": "— tutti —", "pl": "— wszystkie —", "en": "— any —"},
    "orders_filter": {"it": "Filtra", "pl": "Filtruj", "en": "Filter"},
    "orders_none_all": {"it": "Nessun ordine.", "pl": "Brak zamówień.", "en": "No order."},
    "col_order": {"it": "Numero di Ordine", "pl": "Numer zamówienia", "en": "Order number"},
    "col_amount": {"it": "Importo", "pl": "Kwota", "en": "Amount"},
    "col_ordered": {"it": "Data Ordine", "pl": "Data zamówienia", "en": "Order date"},
    "col_deadline": {"it": "Scadenza accettazione", "pl": "Termin akceptacji", "en": "Acceptance deadline"},
    "order_resend": {"it": "Invia Email Accettazione Contratti", "pl": "Wyślij ponownie e-mail akceptacji umów",
                     "en": "Send the contract acceptance e-mail (Invia Email Accettazione Contratti)"},
    "order_cancel": {"it": "Cancella Richiesta Attivazione", "pl": "Anuluj wniosek o aktywację",
                     "en": "Cancel the activation request (Cancella Richiesta Attivazione)"},
    "order_cancel_confirm": {"it": "Confermo: l'attivazione viene annullata e l'importo riaccreditato.",
                             "pl": "Potwierdzam: aktywacja zostanie anulowana, a kwota zwrócona.",
                             "en": "I confirm: the activation is cancelled and its amount refunded."},
    "order_resent": {"it": "Email di accettazione inviata", "pl": "E-mail akceptacji wysłany",
                     "en": "Acceptance e-mail sent"},
    "order_cancel_done": {"it": "Richiesta di attivazione cancellata", "pl": "Wniosek o aktywację anulowany",
                        "en": "Activation request cancelled"},
    "order_refunded": {"it": "riaccreditato", "pl": "zwrócono", "en": "refunded"},
    "order_history": {"it": "Storico dell'ordine", "pl": "Historia zamówienia", "en": "Order history"},
    # the order card's tabs (seed 003: Storico dell'ordine, Associazione Storage, Responsabili)
    "order_tab_history": {"it": "Storico dell'ordine", "pl": "Historia zamówienia", "en": "Order history"},
    "order_tab_storage": {"it": "Associazione Storage", "pl": "Powiązane archiwum", "en": "Storage"},
    "order_tab_managers": {"it": "Responsabili", "pl": "Osoby odpowiedzialne", "en": "Managers"},
    "order_activated_on": {"it": "Attivato il", "pl": "Aktywowane", "en": "Activated on"},
    "order_storage_none": {"it": "Nessun ordine attivato: la conservazione parte con il contratto accettato.",
                           "pl": "Brak aktywowanego zamówienia: archiwizacja zaczyna się po akceptacji umowy.",
                           "en": "No order activated yet: conservation starts once the contract is accepted."},
    "order_manager_role": {"it": "Ruolo", "pl": "Rola", "en": "Role"},
    "order_manager_who": {"it": "Riferimento", "pl": "Kontakt", "en": "Contact"},
    "order_manager_notified": {"it": "Comunicazioni", "pl": "Powiadomienia", "en": "Notified"},
    "order_manager_customer": {"it": "Titolare", "pl": "Właściciel", "en": "Customer (titolare)"},
    "order_manager_customer_mail": {"it": "Email contratti e link di accettazione alla PEC",
                                    "pl": "E-mail z umowami i linkiem akceptacji",
                                    "en": "Contract e-mails and the acceptance link, to the PEC"},
    "order_manager_conservation": {"it": "Responsabile della conservazione", "pl": "Odpowiedzialny za archiwizację",
                                   "en": "Conservation manager (responsabile della conservazione)"},
    "order_manager_at_activation": {"it": "credenziali inviate all'attivazione", "pl": "dane dostępu po aktywacji",
                                    "en": "access sent at activation"},
    "order_awaiting-documentation": {"it": "Attesa documentazione", "pl": "Oczekuje na dokumenty "
                                     "(attesa documentazione)", "en": "Awaiting documentation (attesa documentazione)"},
    "order_accepting": {"it": "Accettazione in corso", "pl": "Akceptacja w toku", "en": "Being accepted"},
    "order_cancelling": {"it": "Cancellazione in corso", "pl": "Anulowanie w toku", "en": "Being cancelled"},
    "order_accepted": {"it": "Contratto accettato", "pl": "Umowa zaakceptowana", "en": "Contract accepted"},
    "order_cancelled": {"it": "Cancellato", "pl": "Anulowane", "en": "Cancelled"},
    "order_expired": {"it": "Scaduto", "pl": "Wygasłe", "en": "Expired"},
    "step_awaiting-documentation": {"it": "Ordine aperto: attesa documentazione", "pl": "Zamówienie otwarte",
                                    "en": "Order opened: awaiting documentation"},
    "step_invitation-sent": {"it": "Email contratti inviata", "pl": "Wysłano e-mail z umowami",
                             "en": "Contract e-mail sent"},
    "step_resend-sent": {"it": "Email contratti inviata di nuovo", "pl": "Ponownie wysłano e-mail z umowami",
                         "en": "Contract e-mail sent again"},
    "step_reminder-sent": {"it": "Promemoria inviato", "pl": "Wysłano przypomnienie", "en": "Reminder sent"},
    "step_accepted": {"it": "Contratto accettato", "pl": "Umowa zaakceptowana", "en": "Contract accepted"},
    "step_customer-enabled": {"it": "Cliente abilitato", "pl": "Klient aktywowany", "en": "Customer enabled"},
    "step_cancelled": {"it": "Attivazione annullata", "pl": "Aktywacja anulowana", "en": "Activation cancelled"},
    "step_refunded": {"it": "Importo riaccreditato", "pl": "Kwota zwrócona", "en": "Amount refunded"},
    "step_expired": {"it": "Ordine scaduto", "pl": "Zamówienie wygasło", "en": "Order expired"},
    "menu_preferences": {"it": "Notifiche e-mail", "pl": "Powiadomienia e-mail", "en": "E-mail notifications"},
    # e-mail notification preferences (seed 004: "Powiadomienia e-mail")
    "prefs_title": {"it": "Notifiche e-mail", "pl": "Powiadomienia e-mail", "en": "E-mail notifications"},
    "prefs_intro": {"it": "Scegli quali notifiche ricevere: una casella non selezionata non viene inviata. "
                          "Per impostazione predefinita sono tutte attive.",
                    "pl": "Możesz samodzielnie zdecydować, które powiadomienia chcesz otrzymywać. Odznaczenie "
                          "checkboxa powoduje, że powiadomienie danego typu nie będzie wysyłane. Domyślnie "
                          "wszystkie powiadomienia są włączone.",
                    "en": "Choose which notifications you receive: an unchecked kind is not sent. All are on by "
                          "default."},
    "prefs_saved": {"it": "Preferenze salvate", "pl": "Ustawienia zapisane", "en": "Preferences saved"},
    "prefs_off": {"it": "disattivate", "pl": "wyłączone", "en": "off"},
    "notif_cert-issued": {"it": "Certificato rilasciato e attivo", "pl": "Certyfikat wydany i aktywny",
                          "en": "A certificate was issued and is active"},
    "notif_cert-authorization-failed": {"it": "Richiesta di certificato non autorizzata",
                                        "pl": "Wystąpił błąd: uwierzytelnianie zakończone niepowodzeniem",
                                        "en": "A certificate request failed authorization"},
    "notif_cert-expiry-reminder": {"it": "Certificato in scadenza", "pl": "Certyfikat wkrótce wygaśnie",
                                   "en": "A certificate is about to expire"},
    "notif_cert-expired": {"it": "Certificato scaduto", "pl": "Certyfikat wygasł", "en": "A certificate has expired"},
    "notif_cert-revoked": {"it": "Certificato revocato", "pl": "Certyfikat unieważniony",
                           "en": "A certificate was revoked"},
    "notif_contract-reminder": {"it": "Promemoria del contratto da accettare",
                                "pl": "Przypomnienie o umowie do akceptacji",
                                "en": "Reminder of a contract awaiting acceptance"},
    "notif_invoice-outcome": {"it": "Esito di una fattura (consegna, scarto, accettazione, rifiuto)",
                              "pl": "Wynik faktury (doręczenie, odrzucenie, akceptacja)",
                              "en": "An invoice was delivered, rejected, accepted or refused"},
    "notif_invoice-received": {"it": "Fattura ricevuta", "pl": "Otrzymano fakturę",
                               "en": "An invoice addressed to you was received"},
    "menu_audit": {"it": "Registro attività", "pl": "Dziennik zdarzeń", "en": "Audit trail"},
    "audit_title": {"it": "Registro delle attività", "pl": "Dziennik zdarzeń", "en": "Audit trail"},
    "audit_intro": {"it": "Ogni operazione sul cliente, la più recente per prima: chi, da dove, cosa e con quale "
                          "esito.",
                    "pl": "Każda operacja dotycząca klienta, od najnowszej: kto, skąd, co i z jakim wynikiem.",
                    "en": "Every action on the customer, newest first: who, from where, what, and its outcome."},
    "audit_actor": {"it": "Utente", "pl": "Użytkownik", "en": "Who"},
    "audit_surface": {"it": "Canale", "pl": "Kanał", "en": "Surface"},
    "audit_action": {"it": "Operazione", "pl": "Operacja", "en": "Action"},
    "audit_target": {"it": "Oggetto", "pl": "Obiekt", "en": "On"},
    "audit_none": {"it": "Nessuna voce.", "pl": "Brak wpisów.", "en": "No entry."},
    "audit_older": {"it": "Voci precedenti", "pl": "Starsze wpisy", "en": "Older entries"},
    "audit_newest": {"it": "Più recenti", "pl": "Najnowsze", "en": "Newest"},
    "menu_archive": {"it": "Conservazione", "pl": "Archiwum", "en": "Archive"},
    "menu_sync": {"it": "Sincronizzazione", "pl": "Synchronizacja", "en": "Sync"},
    "sync_title": {"it": "Copia dei dati nel vostro database", "pl": "Kopia danych w waszej bazie",
                   "en": "A copy of your data in your own database"},
    "sync_intro": {"it": "Le fatture, le notifiche, i certificati e il contratto, copiati e tenuti allineati.",
                   "pl": "Faktury, powiadomienia, certyfikaty i umowa, skopiowane i aktualizowane.",
                   "en": "Invoices, notifications, certificates and the contract, copied and kept in step."},
    "sync_database": {"it": "Database", "pl": "Baza danych", "en": "Database"},
    "sync_every": {"it": "Ogni", "pl": "Co", "en": "Every"},
    "sync_active": {"it": "ATTIVA", "pl": "aktywna", "en": "active"},
    "sync_paused": {"it": "SOSPESA", "pl": "wstrzymana", "en": "paused"},
    "sync_next": {"it": "Prossima sincronizzazione", "pl": "Następna synchronizacja", "en": "Next round"},
    "sync_last": {"it": "Ultima sincronizzazione", "pl": "Ostatnia synchronizacja", "en": "Last round"},
    "sync_applied": {"it": "modifiche applicate", "pl": "zmian zastosowanych", "en": "changes applied"},
    "sync_behind": {"it": "in attesa", "pl": "oczekujących", "en": "behind"},
    "sync_note": {"it": "Motivo", "pl": "Powód", "en": "Why"},
    "sync_pause": {"it": "Sospendi", "pl": "Wstrzymaj", "en": "Pause"},
    "sync_resume": {"it": "Riprendi", "pl": "Wznów", "en": "Resume"},
    "sync_paused_done": {"it": "Sincronizzazione sospesa", "pl": "Synchronizacja wstrzymana", "en": "Sync paused"},
    "sync_resumed": {"it": "Sincronizzazione ripresa", "pl": "Synchronizacja wznowiona", "en": "Sync resumed"},
    "sync_none": {"it": "Nessuna sincronizzazione pianificata dall'intermediario.",
                  "pl": "Pośrednik nie zaplanował synchronizacji.",
                  "en": "The intermediary has scheduled no sync for this customer."},
    "sync_own_server": {"it": "Sul vostro server, il client di sincronizzazione:",
                        "pl": "Na własnym serwerze, klient synchronizacji:",
                        "en": "On your own server, the sync client:"},
    "sync_unavailable": {"it": "Servizio momentaneamente non disponibile: riprovare.",
                         "pl": "Usługa chwilowo niedostępna: spróbuj ponownie.",
                         "en": "The service is unavailable for a moment: try again."},
    "sync_unknown_verb": {"it": "Operazione sconosciuta.", "pl": "Nieznana operacja.", "en": "Unknown action."},
    # the archive (conservazione)
    "archive_title": {"it": "Conservazione digitale a norma", "pl": "Archiwum (przechowywanie faktur)",
                      "en": "Archive (conservazione)"},
    "archive_used": {"it": "Spazio utilizzato", "pl": "Zajęte miejsce", "en": "Space used"},
    "archive_packages": {"it": "Pacchetti", "pl": "Paczki", "en": "Packages"},
    "archive_objects": {"it": "File", "pl": "Pliki", "en": "Files"},
    "archive_last_verified": {"it": "Ultima verifica", "pl": "Ostatnia weryfikacja", "en": "Last verification"},
    "archive_never": {"it": "mai", "pl": "nigdy", "en": "never"},
    "archive_verify_ok": {"it": "integra", "pl": "poprawna", "en": "intact"},
    "archive_fault": {"it": "anomalia", "pl": "błąd", "en": "fault"},
    "archive_verify_failed": {"it": "{n} pacchetti con anomalie", "pl": "{n} paczek z błędami",
                              "en": "{n} packages with faults"},
    "archive_unverified": {"it": "{n} pacchetti non ancora verificati", "pl": "{n} paczek jeszcze niezweryfikowanych",
                           "en": "{n} packages not verified yet"},
    "archive_export": {"it": "Esportazione per l'ispettore", "pl": "Eksport dla kontrolera",
                       "en": "Export for an inspector"},
    "archive_export_hint": {"it": "Un file zip autosufficiente: i pacchetti del periodo, i loro indici, le impronte "
                                  "SHA-256 e un programma di verifica offline.",
                            "pl": "Samodzielny plik zip: paczki z okresu, ich indeksy, skróty SHA-256 i program "
                                  "do weryfikacji offline.",
                            "en": "A self-contained zip: the period's packages, their indexes, the SHA-256 "
                                  "fingerprints and an offline checker."},
    "archive_from": {"it": "Dal", "pl": "Od", "en": "From"},
    "archive_to": {"it": "Al", "pl": "Do", "en": "To"},
    "archive_export_button": {"it": "Esporta", "pl": "Eksportuj", "en": "Export"},
    "archive_list": {"it": "Pacchetti di archiviazione", "pl": "Paczki archiwalne", "en": "Archival packages"},
    "archive_package": {"it": "Pacchetto", "pl": "Paczka", "en": "Package"},
    "archive_size": {"it": "Dimensione", "pl": "Rozmiar", "en": "Size"},
    "archive_retain": {"it": "Conservato fino al", "pl": "Przechowywane do", "en": "Kept until"},
    "archive_none": {"it": "Nessun documento conservato.", "pl": "Brak zarchiwizowanych dokumentów.",
                     "en": "No document archived yet."},
    # delegation (seed 002: Aruba's accountant links)
    "delegation_intro": {"it": "Collega il tuo commercialista e scegli i permessi: potrà gestire in delega il "
                               "pannello secondo i permessi assegnati.",
                         "pl": "Połącz swoje biuro rachunkowe i wybierz uprawnienia: będzie działać w Twoim "
                               "imieniu w ich zakresie.",
                         "en": "Link your accountant and choose its permissions: it acts for you within them."},
    "accountant": {"it": "Commercialista", "pl": "Biuro rachunkowe", "en": "Accountant"},
    "perm_base": {"it": "Fatturazione Elettronica", "pl": "Fakturowanie elektroniczne", "en": "E-invoicing"},
    "perm_modules": {"it": "Moduli", "pl": "Moduły", "en": "Modules"},
    "perm_modules_need_read": {"it": "I permessi dei moduli si concedono solo insieme alla lettura.",
                               "pl": "Uprawnienia modułów można nadać tylko razem z odczytem.",
                               "en": "Module permissions are granted only together with read."},
    "save": {"it": "Salva", "pl": "Zapisz", "en": "Save"},
    "link_end": {"it": "Termina collegamento", "pl": "Zakończ powiązanie", "en": "End the link"},
    "link_accountant": {"it": "Collega un commercialista", "pl": "Połącz biuro rachunkowe",
                        "en": "Link an accountant"},
    "link_invite": {"it": "Invita", "pl": "Zaproś", "en": "Invite"},
    "no_links": {"it": "Nessun commercialista collegato.", "pl": "Brak powiązanych biur rachunkowych.",
                 "en": "No accountant linked."},
    "delegation_saved": {"it": "Collegamento aggiornato", "pl": "Powiązanie zapisane", "en": "Link saved"},
    "link_invited": {"it": "Invitato (in attesa)", "pl": "Zaproszone (oczekuje)", "en": "Invited (awaiting)"},
    "link_requested": {"it": "Richiesto dal commercialista", "pl": "Prośba biura", "en": "Requested by the accountant"},
    "link_active": {"it": "Attivo", "pl": "Aktywne", "en": "Active"},
    "link_ended": {"it": "Terminato", "pl": "Zakończone", "en": "Ended"},
    # certificates (seed 000: Agenzia delle Entrate's screen)
    "cert_title": {"it": "Certificato Gestore ed Esercente", "pl": "Certyfikaty", "en": "Certificates"},
    "cert_upload_hint": {"it": "Carica il file di richiesta del certificato e poi seleziona il pulsante "
                               "\"Richiedi certificato\".",
                         "pl": "Wczytaj plik wniosku o certyfikat (PKCS#10) i wybierz \"Wyślij wniosek\".",
                         "en": "Upload the certificate request file (PKCS#10) and press \"Request certificate\"."},
    "cert_ca_hint": {"it": "È possibile scaricare il certificato per la verifica dell'autenticità del server "
                           "con cui viene stabilita la connessione SSL/TLS:",
                     "pl": "Certyfikat do weryfikacji serwera połączenia SSL/TLS można pobrać:",
                     "en": "The certificate that verifies the server of the SSL/TLS connection can be "
                           "downloaded:"},
    "cert_ca": {"it": "Certificato CA", "pl": "Certyfikat CA", "en": "CA certificate"},
    "cert_csr": {"it": "File PKCS#10", "pl": "Plik PKCS#10", "en": "PKCS#10 file"},
    "cert_request": {"it": "Richiedi certificato", "pl": "Wyślij wniosek o certyfikat", "en": "Request certificate"},
    "cert_revoke": {"it": "Annullamento certificato", "pl": "Unieważnienie certyfikatu",
                    "en": "Certificate revocation"},
    "cert_list": {"it": "Elenco dei certificati richiesti", "pl": "Lista wnioskowanych certyfikatów",
                  "en": "Requested certificates"},
    "col_id": {"it": "Id", "pl": "Id", "en": "Id"},
    "col_certificate": {"it": "Certificato", "pl": "Certyfikat", "en": "Certificate"},
    "col_state": {"it": "Stato", "pl": "Status", "en": "State"},
    "col_requested": {"it": "Data Richiesta", "pl": "Data wniosku", "en": "Request date"},
    "col_expires": {"it": "Data Scadenza", "pl": "Data ważności", "en": "Expiry date"},
    "col_outcome": {"it": "Esito", "pl": "Wynik", "en": "Outcome"},
    "download": {"it": "Scarica", "pl": "Pobierz", "en": "Download"},
    "cert_none_active": {"it": "Per l'utenza di lavoro selezionata, a sistema non risultano certificati nello "
                               "stato \"ATTIVATO\".",
                         "pl": "Dla wybranego konta nie ma certyfikatów w stanie \"ATTIVATO\" (aktywny).",
                         "en": "For the selected account there is no certificate in the state \"ATTIVATO\" "
                               "(active)."},
    "cert_none": {"it": "Nessun certificato richiesto.", "pl": "Brak certyfikatów.", "en": "No certificate yet."},
    "cert_offline": {"it": "Certificato offline (KSeF)", "pl": "Certyfikat offline",
                     "en": "Offline certificate (KSeF)"},
    "cert_offline_hint": {"it": "Carica il certificato offline generato nel modulo MCU o nell'Aplikacja Podatnika "
                                "KSeF 2.0.",
                          "pl": "Warunkiem poprawnego dodania certyfikatu jest jego wcześniejsze wygenerowanie w "
                                "module MCU lub Aplikacji Podatnika KSeF 2.0.",
                          "en": "Upload the offline certificate generated in the MCU module or the KSeF 2.0 "
                                "taxpayer application (Aplikacja Podatnika)."},
    "cert_offline_file": {"it": "File del certificato", "pl": "Plik certyfikatu", "en": "Certificate file"},
    "cert_offline_upload": {"it": "Carica certificato", "pl": "Wgraj certyfikat", "en": "Upload certificate"},
    "offline_added": {"it": "Certificato aggiunto correttamente (certyfikat poprawnie dodany)",
                      "pl": "Certyfikat poprawnie dodany",
                      "en": "Correctly added (certyfikat poprawnie dodany)"},
    "offline_none": {"it": "Nessun certificato (brak certyfikatu)", "pl": "Brak certyfikatu",
                     "en": "No certificate (brak certyfikatu)"},
    "cert_uploaded": {"it": "Certificato caricato", "pl": "Certyfikat wgrany", "en": "Certificate uploaded"},
    "cert_delete": {"it": "Elimina", "pl": "Usuń", "en": "Delete"},
    "cert_deleted": {"it": "Certificato eliminato", "pl": "Certyfikat usunięty", "en": "Certificate deleted"},
    "cert_requested": {"it": "Richiesta inviata: certificato", "pl": "Wniosek wysłany: certyfikat",
                       "en": "Request sent: certificate"},
    "revoke_intro": {"it": "L'utente può annullare il Certificato Utente attivo che il sistema ha precedentemente "
                           "rilasciato scegliendo obbligatoriamente una fra le motivazioni proposte.",
                     "pl": "Użytkownik może unieważnić aktywny certyfikat, wybierając obowiązkowo jeden z "
                           "podanych powodów.",
                     "en": "You can revoke the active certificate issued to you; choosing one of the reasons is "
                           "mandatory."},
    "revoke_cumulative": {"it": "Per l'utenza di lavoro selezionata, a sistema risultano più ({n}) certificati "
                                "nello stato \"ATTIVATO\", che verranno tutti revocati.",
                          "pl": "Dla wybranego konta w systemie jest {n} certyfikatów w stanie \"ATTIVATO\" "
                                "(aktywny): wszystkie zostaną unieważnione.",
                          "en": "For the selected account there are {n} certificates in the state \"ATTIVATO\" "
                                "(active): all of them will be revoked."},
    "revoke_one": {"it": "Verrà revocato il certificato scelto qui sotto.",
                   "pl": "Zostanie unieważniony certyfikat wybrany poniżej.",
                   "en": "The certificate chosen below will be revoked."},
    "revoke_after": {"it": "Al termine dell'operazione potrà essere richiesto un nuovo certificato.",
                     "pl": "Po zakończeniu operacji można złożyć wniosek o nowy certyfikat.",
                     "en": "Afterwards a new certificate can be requested."},
    "reason": {"it": "Motivazione", "pl": "Powód", "en": "Reason"},
    "choose": {"it": "— scegli —", "pl": "— wybierz —", "en": "— choose —"},
    "revoke_submit": {"it": "Richiedi annullamento", "pl": "Unieważnij", "en": "Request revocation"},
    "back": {"it": "Indietro", "pl": "Wstecz", "en": "Back"},
    "revoked_done": {"it": "Certificati revocati", "pl": "Unieważnione certyfikaty", "en": "Certificates revoked"},
    "revoke_pending": {"it": "in attesa di conferma della CA", "pl": "oczekuje na potwierdzenie CA",
                       "en": "awaiting the CA's confirmation"},
    "reason_key-lost": {"it": "Chiave primaria smarrita", "pl": "Utrata klucza prywatnego",
                        "en": "Primary key lost"},
    "reason_activity-ceased": {"it": "Attività cessata", "pl": "Zaprzestanie działalności",
                               "en": "Activity ceased"},
    "reason_stolen": {"it": "Furto certificato", "pl": "Kradzież certyfikatu", "en": "Certificate stolen"},
    "reason_renewal": {"it": "Rinnovo scadenza", "pl": "Odnowienie przed wygaśnięciem", "en": "Renewal at expiry"},
    "reason_malfunction": {"it": "Malfunzionamento", "pl": "Nieprawidłowe działanie", "en": "Malfunction"},
    "reason_other": {"it": "Altro", "pl": "Inny", "en": "Other"},
    # certificate states: the portals' own words
    "state_ordered": {"it": "In generazione (zlecony do autoryzacji)", "pl": "Zlecony do autoryzacji",
                      "en": "In generation: ordered for authorization (zlecony do autoryzacji)"},
    "state_accepted": {"it": "In generazione (zaakceptowany w trakcie autoryzacji)",
                       "pl": "Zaakceptowany w trakcie autoryzacji",
                       "en": "In generation: authorization in progress (zaakceptowany w trakcie autoryzacji)"},
    "state_active": {"it": "ATTIVATO", "pl": "Aktywny (ATTIVATO)", "en": "Active (ATTIVATO)"},
    "state_error": {"it": "Errore", "pl": "Uwierzytelnianie zakończone niepowodzeniem",
                    "en": "Error: authentication failed"},
    "state_expired": {"it": "Scaduto", "pl": "Wygasły", "en": "Expired (scaduto)"},
    "state_revoked": {"it": "Revocato", "pl": "Unieważniony", "en": "Revoked (revocato)"},
    "state_added": {"it": "Aggiunto", "pl": "Certyfikat poprawnie dodany", "en": "Correctly added"},
    # the KSeF settings screen (seed 004: "Ustawienia / KSeF"), a Polish customer's
    "menu_ksef": {"it": "KSeF", "pl": "KSeF", "en": "KSeF"},
    "ksef_title": {"it": "Impostazioni / KSeF", "pl": "Ustawienia / KSeF", "en": "Settings / KSeF"},
    "ksef_only_polish": {"it": "KSeF è il sistema polacco: solo per i clienti con un NIP polacco",
                         "pl": "KSeF jest dostępny tylko dla klientów z polskim NIP",
                         "en": "KSeF is the Polish exchange: only for customers with a Polish NIP"},
    "ksef_certificates": {"it": "Certificati", "pl": "Certyfikaty", "en": "Certificates"},
    "ksef_certificates_intro": {"it": "Qui si gestiscono i certificati usati in KSeF: ogni tipo di certificato "
                                      "si aggiunge dalla propria finestra.",
                                "pl": "W sekcji Certyfikaty możliwe jest zarządzanie certyfikatami wykorzystywanymi "
                                      "w KSeF. Każdy typ certyfikatu dodawany jest za pomocą oddzielnego okna.",
                                "en": "Manage the certificates used in KSeF here: each type of certificate is added "
                                      "in its own window."},
    "ksef_auth_title": {"it": "Certificato di autenticazione", "pl": "Certyfikat uwierzytelniający",
                        "en": "Authentication certificate"},
    "ksef_auth_hint": {"it": "Carica la richiesta di certificato (CSR, PKCS#10) con i dati che KSeF richiede per "
                             "il tuo NIP: viene inviata a KSeF per l'autorizzazione.",
                       "pl": "Wgraj wniosek certyfikacyjny (CSR, PKCS#10) z danymi, których KSeF wymaga dla "
                             "Twojego NIP: zostanie zlecony do autoryzacji w KSeF.",
                       "en": "Upload the certificate signing request (CSR, PKCS#10) with the data KSeF requires "
                             "for your NIP: it is sent to KSeF for authorization."},
    "ksef_csr": {"it": "File della richiesta (CSR)", "pl": "Plik wniosku (CSR)", "en": "Request file (CSR)"},
    "ksef_signed_login": {"it": "Accesso a KSeF firmato da te (einvoice cert request --ksef-seal lo prepara)",
                          "pl": "Logowanie do KSeF podpisane przez Ciebie (przygotowuje je einvoice cert request "
                                "--ksef-seal)",
                          "en": "The KSeF login you signed (einvoice cert request --ksef-seal makes it)"},
    "ksef_enroll": {"it": "Carica e invia a KSeF", "pl": "Wgraj i zleć autoryzację",
                    "en": "Upload and send to KSeF"},
    "ksef_enrolled": {"it": "Richiesta inviata a KSeF", "pl": "Wniosek wysłany do KSeF",
                      "en": "Request sent to KSeF"},
    "ksef_offline_title": {"it": "Certificato offline", "pl": "Certyfikat offline", "en": "Offline certificate"},
    "ksef_status": {"it": "Stato", "pl": "Status", "en": "Status"},
    "ksef_no_certificate": {"it": "Nessun certificato (brak certyfikatu)", "pl": "brak certyfikatu",
                            "en": "No certificate (brak certyfikatu)"},
    "ksef_col_id": {"it": "Id", "pl": "Id", "en": "Id"},
    "ksef_col_added_by": {"it": "Aggiunto da", "pl": "Dodał", "en": "Added by"},
    "ksef_col_uploaded": {"it": "Data di caricamento", "pl": "Data wgrania", "en": "Uploaded on"},
    "ksef_col_expires": {"it": "Data di scadenza", "pl": "Data ważności", "en": "Valid until"},
    "ksef_reason": {"it": "Motivo indicato da KSeF", "pl": "Powód podany przez KSeF", "en": "KSeF's reason"},
    "ksef_notifications": {"it": "Notifiche e-mail", "pl": "Powiadomienia e-mail", "en": "E-mail notifications"},
    "ksef_notifications_hint": {"it": "Scegli quali notifiche ricevere: di norma sono tutte attive; una casella "
                                      "non spuntata vuol dire che quella notifica non viene inviata.",
                                "pl": "Możesz samodzielnie zdecydować, które powiadomienia chcesz otrzymywać. "
                                      "Domyślnie wszystkie powiadomienia są włączone. Odznaczenie checkboxa "
                                      "powoduje, że powiadomienie danego typu nie będzie wysyłane.",
                                "en": "Choose which notifications you receive: all are on by default; an "
                                      "unchecked box means that kind of notification is not sent."},
    # a KSeF certificate's states, the seed's own words
    "ksef_state_ordered": {"it": "Richiesto per l'autorizzazione (zlecony do autoryzacji)",
                           "pl": "zlecony do autoryzacji",
                           "en": "Ordered for authorization (zlecony do autoryzacji)"},
    "ksef_state_accepted": {"it": "Accettato, autorizzazione in corso (zaakceptowany w trakcie autoryzacji)",
                            "pl": "zaakceptowany w trakcie autoryzacji",
                            "en": "Accepted, authorization in progress (zaakceptowany w trakcie autoryzacji)"},
    "ksef_state_active": {"it": "Autorizzazione riuscita (przeszedł autoryzację pomyślnie)",
                          "pl": "przeszedł autoryzację pomyślnie",
                          "en": "Authorized successfully (przeszedł autoryzację pomyślnie)"},
    "ksef_state_error": {"it": "Errore: autenticazione non riuscita (Uwierzytelnianie zakończone niepowodzeniem)",
                         "pl": "wystąpił błąd: Uwierzytelnianie zakończone niepowodzeniem",
                         "en": "Error: authentication failed (Uwierzytelnianie zakończone niepowodzeniem)"},
    "ksef_state_expired": {"it": "Scaduto", "pl": "certyfikat wygasł", "en": "Expired"},
    "ksef_state_revoked": {"it": "Revocato", "pl": "certyfikat unieważniony", "en": "Revoked"},
    "ksef_state_added": {"it": "Aggiunto correttamente (certyfikat poprawnie dodany)",
                         "pl": "certyfikat poprawnie dodany",
                         "en": "Correctly added (certyfikat poprawnie dodany)"},
    # invoices
    # the KSeF actions of a Polish customer's invoices screen (seed 004: Wyślij do KSeF, Pobierz z KSeF)
    "ksef_fa3_file": {"it": "File della fattura FA(3) (XML)", "pl": "Plik faktury FA(3) (XML)",
                      "en": "FA(3) invoice file (XML)"},
    "ksef_send": {"it": "Invia a KSeF", "pl": "Wyślij do KSeF", "en": "Send to KSeF"},
    "ksef_download": {"it": "Scarica da KSeF", "pl": "Pobierz z KSeF", "en": "Download from KSeF"},
    "ksef_from": {"it": "Dal", "pl": "Od", "en": "From"},
    "ksef_to": {"it": "Al", "pl": "Do", "en": "To"},
    "ksef_covered_until": {"it": "Completato fino al", "pl": "Pobrano do", "en": "Covered until"},
    "ksef_taken": {"it": "Fatture scaricate", "pl": "Pobrane faktury", "en": "Invoices taken"},
    "ksef_download_done": {"it": "Completato", "pl": "Zakończone", "en": "Done"},
    "ksef_download_running": {"it": "In corso", "pl": "W toku", "en": "In progress"},
    "ksef_download_started": {"it": "Download da KSeF avviato", "pl": "Rozpoczęto pobieranie z KSeF",
                              "en": "Download from KSeF started"},
    "ksef_number": {"it": "Numero KSeF", "pl": "Numer KSeF", "en": "KSeF number"},
    "dl_upo": {"it": "UPO", "pl": "UPO", "en": "UPO"},
    "ksef_token_title": {"it": "Aggiungi il token KSeF", "pl": "Dodaj token KSeF", "en": "Add your KSeF token"},
    "ksef_token_hint": {"it": "Per inviare e scaricare fatture in KSeF serve il token KSeF generato in KSeF "
                              "(permessi InvoiceWrite e InvoiceRead). Una volta salvato non viene più mostrato; "
                              "poi l'operazione prosegue.",
                        "pl": "Do wysyłki i pobierania faktur w KSeF potrzebny jest token KSeF wygenerowany w KSeF "
                              "(uprawnienia InvoiceWrite i InvoiceRead). Po zapisaniu nie jest już wyświetlany; "
                              "następnie możesz kontynuować rozpoczętą akcję.",
                        "en": "Sending and downloading invoices in KSeF needs the KSeF token you generated in KSeF "
                              "(InvoiceWrite and InvoiceRead). Once saved it is never shown again; then the action "
                              "goes on."},
    "ksef_token": {"it": "Token KSeF", "pl": "Token KSeF", "en": "KSeF token"},
    "ksef_token_save": {"it": "Salva e continua", "pl": "Zapisz i kontynuuj", "en": "Save and continue"},
    "ksef_token_first": {"it": "Manca il token KSeF: aggiungilo per continuare",
                         "pl": "Brak tokenu KSeF: dodaj go, aby kontynuować",
                         "en": "No KSeF token yet: add it to continue"},
    "ksef_token_ask_customer": {"it": "Manca il token KSeF del cliente: può aggiungerlo il cliente (o chi gestisce "
                                      "la sua configurazione).",
                                "pl": "Brak tokenu KSeF klienta: może go dodać klient (lub osoba zarządzająca "
                                      "jego konfiguracją).",
                                "en": "The customer's KSeF token is not set: the customer (or whoever manages its "
                                      "configuration) can add it."},
    "ksef_token_saved": {"it": "Token KSeF salvato", "pl": "Token KSeF zapisany", "en": "KSeF token saved"},
    "ksef_token_saved_send": {"it": "Token KSeF salvato: scegli il file e invialo a KSeF",
                              "pl": "Token KSeF zapisany: wybierz plik i wyślij go do KSeF",
                              "en": "KSeF token saved: choose the file and send it to KSeF"},
    "cancel": {"it": "Annulla", "pl": "Anuluj", "en": "Cancel"},
    # an FA(3) invoice's states in KSeF's terms (the invoice workflow's KSeF channel: workflows/invoice_send.py)
    "ksef_inv_state_sent": {"it": "Inviata a KSeF", "pl": "wysłana do KSeF", "en": "Sent to KSeF"},
    "ksef_inv_state_accepted": {"it": "Accettata da KSeF (numero KSeF assegnato)",
                                "pl": "przyjęta przez KSeF (nadano numer KSeF)",
                                "en": "Accepted by KSeF (KSeF number given)"},
    "ksef_inv_state_rejected": {"it": "Rifiutata da KSeF", "pl": "odrzucona przez KSeF", "en": "Rejected by KSeF"},
    "ksef_inv_state_failed": {"it": "Non inviata: KSeF ha rifiutato la richiesta",
                              "pl": "niewysłana: KSeF odrzucił żądanie",
                              "en": "Not sent: KSeF refused the request"},
    "inv_title": {"it": "Fatture inviate", "pl": "Faktury wysłane", "en": "Invoices sent"},
    "inv_file": {"it": "File FatturaPA (XML o .p7m)", "pl": "Plik FatturaPA (XML lub .p7m)",
                 "en": "FatturaPA file (XML or .p7m)"},
    "inv_sign": {"it": "Firma", "pl": "Podpis", "en": "Signature"},
    "sign_none": {"it": "Nessuna (già firmata o non richiesta)", "pl": "Brak (już podpisana lub niewymagana)",
                  "en": "None (already signed, or not required)"},
    "sign_cades": {"it": "CAdES-BES (.p7m)", "pl": "CAdES-BES (.p7m)", "en": "CAdES-BES (.p7m)"},
    "sign_xades": {"it": "XAdES-BES", "pl": "XAdES-BES", "en": "XAdES-BES"},
    "inv_send": {"it": "Invia fattura", "pl": "Wyślij fakturę", "en": "Send invoice"},
    "inv_sent": {"it": "Fattura inviata", "pl": "Faktura wysłana", "en": "Invoice sent"},
    "inv_none": {"it": "Nessuna fattura.", "pl": "Brak faktur.", "en": "No invoice yet."},
    "col_file": {"it": "Nome file", "pl": "Nazwa pliku", "en": "File name"},
    "col_number": {"it": "Numero", "pl": "Numer", "en": "Number"},
    "col_date": {"it": "Data", "pl": "Data", "en": "Date"},
    "col_counterparty": {"it": "Cessionario", "pl": "Nabywca", "en": "Buyer"},
    "col_total": {"it": "Totale", "pl": "Razem", "en": "Total"},
    "col_direction": {"it": "Tipo", "pl": "Kierunek", "en": "Direction"},
    "dir_out": {"it": "Emessa", "pl": "Wystawiona", "en": "Sent"},
    "dir_in": {"it": "Ricevuta", "pl": "Otrzymana", "en": "Received"},
    "notifications": {"it": "Notifiche", "pl": "Powiadomienia", "en": "Notifications"},
    "no_notifications": {"it": "Nessuna notifica ancora.", "pl": "Brak powiadomień.",
                         "en": "No notification yet."},
    "downloads": {"it": "Download", "pl": "Pobieranie", "en": "Downloads"},
    "dl_original": {"it": "XML", "pl": "XML", "en": "XML"},
    "dl_signed": {"it": ".p7m firmato", "pl": "podpisany .p7m", "en": "signed .p7m"},
    "dl_html": {"it": "HTML (foglio di stile AdE)", "pl": "HTML", "en": "HTML (AdE stylesheet)"},
    "dl_pdf": {"it": "PDF", "pl": "PDF", "en": "PDF"},
    "dl_notifications": {"it": "Notifiche (zip)", "pl": "Powiadomienia (zip)", "en": "Notifications (zip)"},
    "sdi_id": {"it": "Identificativo SdI", "pl": "Identyfikator SdI", "en": "SdI id"},
    "warnings": {"it": "Avvisi", "pl": "Ostrzeżenia", "en": "Warnings"},
    "inv_state_received": {"it": "Ricevuta dall'intermediario", "pl": "Przyjęta", "en": "Received"},
    "inv_state_validated": {"it": "Validata", "pl": "Zweryfikowana", "en": "Validated"},
    "inv_state_signed": {"it": "Firmata", "pl": "Podpisana", "en": "Signed"},
    "inv_state_sent": {"it": "Inviata allo SdI", "pl": "Wysłana do SdI", "en": "Sent to the SDI"},
    "inv_state_delivered": {"it": "Consegnata (RC)", "pl": "Dostarczona (RC)", "en": "Delivered (RC)"},
    "inv_state_not-delivered": {"it": "Mancata consegna (MC)", "pl": "Niedostarczona (MC)",
                                "en": "Not delivered (MC)"},
    "inv_state_rejected": {"it": "Scartata (NS)", "pl": "Odrzucona (NS)", "en": "Rejected (NS)"},
    "inv_state_accepted": {"it": "Accettata dalla PA (EC01)", "pl": "Zaakceptowana (EC01)",
                           "en": "Accepted by the PA (EC01)"},
    "inv_state_refused": {"it": "Rifiutata dalla PA (EC02)", "pl": "Odrzucona przez PA (EC02)",
                          "en": "Refused by the PA (EC02)"},
    "inv_state_failed": {"it": "Trasmissione non riuscita (EI)", "pl": "Transmisja nieudana (EI)",
                         "en": "Transmission failed (EI)"},
    "inv_state_received-from-sdi": {"it": "Ricevuta dallo SdI", "pl": "Otrzymana z SdI",
                                    "en": "Received from the SDI"},
    "inv_state_outcome-sent": {"it": "Esito inviato", "pl": "Wynik wysłany", "en": "Outcome sent"},
    "inv_state_outcome-sending": {"it": "Esito in invio", "pl": "Wynik w trakcie wysyłania",
                                  "en": "Outcome being sent"},
    "inv_state_deadline-passed": {"it": "Decorrenza termini (DT)", "pl": "Upływ terminu (DT)",
                                  "en": "Deadline passed (DT)"},
}


def choose(accept_language: str, chosen: str | None = None) -> str:
    """The switch's choice if it is one of ours, else the browser's most preferred language we have."""
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = tag.strip().lower().split("-")[0]
        if code in LANGUAGES and quality > 0:
            ranked.append((-quality, index, code))
    return min(ranked)[2] if ranked else DEFAULT


def translate(lang: str, key: str, **values: object) -> str:
    entry = CATALOGUE.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry[DEFAULT]
    return text.format(**values) if values else text


def date(value: datetime | str | None) -> str:
    """dd/mm/yyyy, as the seeds show dates (gg/mm/aaaa); an ISO date string is read first."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value
    return value.strftime("%d/%m/%Y")


def datetime_label(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%d/%m/%Y %H:%M UTC")
