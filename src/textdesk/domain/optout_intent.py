"""Opt-out intent in free text: "no me escriban más", "non scrivetemi più", "leave me alone".

The law asks that a revocation in "any reasonable" wording be honoured, not only the reserved
words. These are rules over normalised text (lower case, no accents), per language, each a
phrase that asks us to stop writing, remove the number or leave the customer alone. Phrases
that negate the request ("don't stop texting me", "no dejes de escribirme") or talk about
something else that stops (a bus stop, an order to cancel) are checked first and win.

A hit is only a *suggestion* for the seller (one click records the opt-out), unless the
organisation chose to act on it automatically. Precision matters as much as recall: a false
opt-out loses a customer, a missed one risks a fine. ``bench/optout_intent.py`` measures both
on the labelled set kept in the repository.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from textdesk.domain import optout_model
from textdesk.domain.optout import normalise

LANGUAGES = ("en", "pt-br", "es", "it")

# Words that mean "messages" and "to write/send/contact" in each language, for the patterns below.
_EN_MSG = r"(?:texts?|texting|messages?|messaging|sms|msgs?|spam|marketing|promos?|promotions?|offers?)"
_EN_VERB = r"(?:text(?:ing)?|messag(?:e|ing)|contact(?:ing)?|call(?:ing)?|send(?:ing)?|spam(?:ming)?|writ(?:e|ing)|bother(?:ing)?|harass(?:ing)?|email(?:ing)?)"
_PT_MSG = r"(?:mensage(?:m|ns)|sms|torpedos?|propagandas?|promoc(?:ao|oes)|ofertas?|spam|textos?)"
_PT_VERB = r"(?:mand(?:ar|a|e|em)|envi(?:ar|a|e|em)|escrev(?:er|e|a|am)|lig(?:ar|a|ue|uem)|contat(?:ar|e|em)|perturb(?:ar|e|em)|incomod(?:ar|e|em))"
_ES_MSG = r"(?:mensajes?|sms|textos?|publicidad|promociones?|ofertas?|spam|whatsapps?)"
_ES_VERB = r"(?:escrib(?:ir|an|as|a|e|en)|mand(?:ar|en|es|e)|envi(?:ar|en|es|e)|llam(?:ar|en|es|e)|contact(?:ar|en|es|e)|molest(?:ar|en|es|e))"
_IT_MSG = r"(?:messaggi|messaggio|sms|pubblicita|promozioni|offerte|spam)"
_IT_VERB = r"(?:scriv\w*|mand\w*|invi\w*|contatt\w*|chiam\w*|disturb\w*)"

_POSITIVE: dict[str, list[str]] = {
    "en": [
        rf"\b(?:stop|quit|cease)\b (?:\w+ ){{0,2}}{_EN_VERB}",
        rf"\b(?:stop|quit|no more|enough)\b (?:\w+ ){{0,2}}{_EN_MSG}",
        rf"\b(?:dont|don ?t|do not|never|pls dont|please dont)\b (?:\w+ ){{0,2}}{_EN_VERB} (?:me|us|this number|my number)\b",
        r"\bleave (?:me|us) alone\b",
        r"\b(?:remove|delete|erase|take|drop|scratch) (?:me|my (?:cell |phone |mobile )?number|this number|us)\b",
        r"\btake me off\b",
        r"\b(?:unsubscribe|unsub|opt me out|opt out|optout)\b",
        r"\blose (?:my|this) number\b",
        r"\bwant (?:no|zero) (?:more )?(?:texts?|messages?|contact)\b",
        r"\b(?:do not|dont|don ?t) want (?:any )?(?:more |further )?(?:texts?|messages?|sms|to be contacted|to hear from you)\b",
        r"\b(?:no (?:longer|more)|do not|dont|don t) (?:want|wish) to (?:receive|get|hear)\b",
        r"\bnot interested[, .]+(?:stop|leave|don ?t|do not|remove)\b",
        r"\bhow (?:do|can) i (?:stop|unsubscribe|opt out)\b",
        r"\bstop (?:it|this)\b",
        r"\bdo not contact\b",
    ],
    "pt-br": [
        rf"\b(?:para|pare|parem|parar) (?:de )?(?:me |nos )?{_PT_VERB}",
        rf"\b(?:para|pare|parem|chega|basta) (?:de |com |dessas |destas |desses |com (?:o|a|os|as|essas|esses) )?(?:essas? |estas? |tantas? )?{_PT_MSG}",
        rf"\bnao (?:me |nos )?{_PT_VERB} mais\b",
        rf"\bnao quero (?:mais )?(?:receber|ser contatad[oa]|que me {_PT_VERB})",
        rf"\bnao (?:desejo|quero) (?:mais )?(?:receber )?(?:nenhuma )?{_PT_MSG}",
        r"\b(?:me )?(?:tira|tirem|retire|retirem|remove|removam|remova|exclua|excluam|apaga|apaguem|apague) (?:o )?(?:meu (?:numero|contato|telefone|cadastro)|(?:da|dessa|desta|de sua|da sua) lista)",
        r"\b(?:me tira|me tirem|me remov[ae]m?|me exclu[ia]m?|me descadastr\w*)\b",
        r"\bdescadastr\w*\b",
        r"\b(?:me )?deix[ae]m? em paz\b",
        r"\besquec[ae]m? (?:o )?meu (?:numero|contato)\b",
        r"\bnao (?:tenho interesse|me interessa)[, .]+(?:para|pare|nao|me tir)",
        rf"\bsem mais {_PT_MSG}\b",
        r"\bcancel(?:ar|a|em|e) (?:o )?(?:envio|recebimento|cadastro|inscricao)\b",
    ],
    "es": [
        rf"\bno (?:me |nos )?(?:vuelvan a |vuelvas a )?{_ES_VERB}(?:me|nos)? (?:mas|nunca mas)\b",
        rf"\bno (?:me |nos )?vuelv(?:an|as|a) a {_ES_VERB}",
        rf"\b(?:dejen|deja|dejad|paren|para|parad) de {_ES_VERB}",
        rf"\b(?:basta|no mas|ya no mas|ninguna? mas) (?:de )?(?:estos |tantos )?{_ES_MSG}",
        rf"\bno quiero (?:recibir|que me {_ES_VERB}|mas {_ES_MSG}|ningun)",
        r"\bno (?:deseo|quiero) (?:seguir )?recibi\w*\b",
        r"\b(?:borren|borra|borrame|borrenme|eliminen|elimina|eliminenme|eliminame|quiten|quitenme|sacame|saquenme|saquen|borrar) (?:mi (?:numero|telefono|contacto|dato)|de (?:la|su|vuestra|esta) lista|me)?",
        r"\b(?:dejame|dejenme|dejadme) (?:en paz|tranquil[oa])\b",
        r"\bdar(?:me)? de baja\b",
        r"\b(?:darse|doy|denme|dame|dieran|den) de baja\b",
        r"\bme quiero dar de baja\b",
        r"\bolvid(?:en|a|ate|ense) (?:de )?mi numero\b",
        r"\bno me interesa[, .]+(?:no|dejen|paren|borr|elimin|baja)",
        r"\bcancel(?:ar|en|a) (?:la )?suscripcion\b",
        r"\bdesuscrib\w*\b",
    ],
    "it": [
        rf"\bnon (?:mi |ci )?{_IT_VERB} (?:mai )?piu\b",
        rf"\bnon (?:mi |ci )?(?:dovete|devi|dovreste) (?:piu )?{_IT_VERB}",
        rf"\b(?:smett\w*|finitela|piantatela) (?:di )?{_IT_VERB}",
        r"\b(?:smettetela|smettila|finitela|piantatela)\b",
        rf"\b(?:basta|niente piu|nessun altro|stop|stop con) (?:con )?(?:questi |i |le |tutti questi )?{_IT_MSG}",
        rf"\bnon voglio (?:piu )?(?:ricevere|essere contattat[oa]|{_IT_MSG}|che mi)",
        r"\bnon desidero (?:piu )?ricevere\b",
        r"\b(?:cancellatemi|cancellami|toglietemi|toglimi|rimuovetemi|rimuovimi|eliminatemi|eliminami)\b",
        r"\b(?:cancellate|togliete|rimuovete|eliminate|cancella|togli|rimuovi|elimina) (?:il )?mio (?:numero|contatto|recapito)\b",
        r"\blascia(?:te)?mi (?:in pace|stare)\b",
        r"\bdisiscriv\w*\b",
        r"\bdimentica(?:te)? (?:il )?mio numero\b",
        r"\bnon (?:mi )?interessa[, .]+(?:non|smett|basta|cancell|togli)",
        r"\bannull\w* (?:l |la )?(?:mia )?iscrizione\b",
    ],
}

# Phrases that look like a request to stop but are not one: negated requests, other things that stop.
_NEGATIVE: dict[str, list[str]] = {
    "en": [
        r"\b(?:dont|don ?t|do not|never|please dont|please do not) (?:stop|quit|remove|unsubscribe|take me off)\b",
        r"\bstop by\b",
        r"\b(?:bus|next|last|first|truck|pit) stop\b",
        r"\bstop(?:ped|ping)? at\b",
        r"\b(?:remove|delete|take|drop) (?:the|that|this|an?|my) (?!number|cell|phone|mobile)\w+",
        r"\bcan(?:not|t| not) stop (?:thinking|talking|smiling|using)\b",
        r"\bwhy did you stop\b",
        r"\bdidn ?t get\b",
    ],
    "pt-br": [
        r"\bnao (?:pare|para|parem) de\b",
        r"\bpode continuar\b",
        r"\bcontinuem? (?:mandando|enviando)\b",
        r"\bparou de (?:funcionar|chegar)\b",
        r"\bpor que (?:voce |voces )?(?:parou|pararam)\b",
        r"\b(?:remove|tira|exclua|retire|apaga) (?:o|a|os|as|esse|essa|aquele|um|uma) (?!meu numero)\w+",
    ],
    "es": [
        r"\bno (?:dejen|dejes|paren|pares) de\b",
        r"\bsigan? (?:mandando|escribiendo|enviando)\b",
        r"\b(?:dejo|dejaron|dejo de) de (?:funcionar|llegar)\b",
        r"\bpor que (?:dejaron|dejaste|paraste|pararon)\b",
        r"\bdeja de (?:funcionar|llover)\b",
        r"\b(?:quiten|borren|eliminen|saquen) (?:el|la|los|las|ese|esa|un|una) (?!numero)\w+",
    ],
    "it": [
        r"\bnon (?:smettete|smettere|smetti) di\b",
        r"\bcontinuate (?:a|pure)\b",
        r"\bperche (?:avete|hai) smesso\b",
        r"\bha smesso di (?:funzionare|arrivare)\b",
        r"\b(?:cancellate|togliete|rimuovete|eliminate) (?:l|la|il|lo|le|gli|quell|quest|un|una)\w* (?!mio)\w+",
    ],
}

_COMPILED_POSITIVE = {lang: [re.compile(p) for p in pats] for lang, pats in _POSITIVE.items()}
_COMPILED_NEGATIVE = {lang: [re.compile(p) for p in pats] for lang, pats in _NEGATIVE.items()}
_APOSTROPHES = re.compile(r"[’'`´]")
_NON_WORD = re.compile(r"[^\w ]+")


@dataclass(frozen=True)
class Intent:
    language: str  # the language whose rule matched
    phrase: str  # the matched words (normalised), shown to the seller as the reason


def prepare(text: str) -> str:
    """Normalised text for the rules: no accents, lower case, apostrophes dropped, punctuation as spaces."""
    plain = normalise(_APOSTROPHES.sub("", text or ""))
    return " ".join(_NON_WORD.sub(" ", plain).split())


def _by_rules(prepared: str, languages: tuple[str, ...]) -> Intent | bool | None:
    """The rules' verdict: an Intent when a phrase asks to stop, False when a negative phrase vetoes, else None."""
    for lang in languages:
        if any(p.search(prepared) for p in _COMPILED_NEGATIVE.get(lang, ())):
            return False
    for lang in languages:
        for pattern in _COMPILED_POSITIVE.get(lang, ()):
            found = pattern.search(prepared)
            if found:
                return Intent(language=lang, phrase=found.group(0).strip()[:80])
    return None


def rules(text: str) -> bool | None:
    """True when a rule finds a request to stop, False when a negative phrase vetoes, None when they are silent."""
    verdict = _by_rules(prepare(text), LANGUAGES)
    return True if isinstance(verdict, Intent) else verdict


def detect(text: str | None, languages: tuple[str, ...] = LANGUAGES) -> Intent | None:
    """The opt-out request in ``text``, or None. Checks every language (customers switch languages).

    The rules decide first (a negative phrase vetoes, a positive one names the phrase); when they are
    silent, the classifier may still find a request the rules have no phrase for.
    """
    if not text or len(text) > 1000:
        return None
    prepared = prepare(text)
    if not prepared:
        return None
    verdict = _by_rules(prepared, languages)
    if verdict is not None:
        return verdict if isinstance(verdict, Intent) else None
    if optout_model.probability(prepared) >= optout_model.threshold():
        guessed = optout_model.language(prepared)
        return Intent(language=guessed if guessed in languages else languages[0], phrase=prepared[:80])
    return None
