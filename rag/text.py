"""The patterns that read text, in one place: words, numbers, names, sentence breaks and the
[n] citation markers. Each pattern says what it matches; the modules that read text import
them from here."""

from __future__ import annotations

import re

INDONESIAN_QUESTION_WORDS = frozenset(
    "apa apakah siapa siapakah berapa berapakah kapan kapankah bagaimana mengapa kenapa dimana "
    "mana manakah".split()
)
"""Indonesian question words: stop-words for BM25, markers of the language."""

WORD = re.compile(r"[^\W_]+", re.UNICODE)
"""A run of letters and digits."""

LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)
"""A run of letters only (for counting words and guessing the language)."""

TOKEN = re.compile(r"[^\W_]+(?:[-'][^\W_]+)*", re.UNICODE)
"""An analyzer token: a word, with its inner hyphens and apostrophes ("kerja-sama", "don't")."""

WORD_OR_NUMBER = re.compile(r"[^\W_]+(?:[.,/-]\d+)*", re.UNICODE)
"""A word, or a number with its inner separators ("9.660", "20/08/2021") kept whole."""

NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
"""A number as written, separators included ("9.660", "3,5", "14:00")."""

NAME = re.compile(r"(?<![\w-])[A-Z][\w-]*[A-Za-z0-9]")
"""A capitalised word of two or more characters: a name, or a sentence's first word."""

PASSAGE_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u201d\"])\s+|\n+")
"""Where a passage's sentences end (after closing quotes too)."""

ANSWER_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
"""Where an answer's sentences end (markers are first moved before the full stop)."""

CITATION = re.compile(r"\s*\[(\d+)\]")
"""One citation marker "[n]", with the space before it."""

CITATION_GROUP = re.compile(r"\[\s*(\d+(?:\s*[,;]\s*\d+)*)\s*\]")
"""A marker that may cite several passages: "[1, 3]", "[2;4]"."""

CITATIONS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[\d+\])+)")
"""Markers written after a sentence's full stop ("... 2015. [1]")."""

CHAT_CONTROL = re.compile(
    r"<\|[^<>|\s]{1,40}\|>"  # ChatML, Llama 3, Phi: <|im_start|>, <|eot_id|>
    r"|<\uff5c[^<>\s]{1,60}\uff5c>"  # DeepSeek: <｜begin▁of▁sentence｜>
    r"|</?(?:s|start_of_turn|end_of_turn)>"  # Llama 2, Gemma
    r"|\[/?INST\]|<</?SYS>>"  # Llama 2, Mistral
)
"""A chat-template control token written as text. llama.cpp reads such text in a prompt as
the control token itself, so an article could open a system turn of its own."""


def defang(text: str, sep: str = " ") -> str:
    """``text`` with every chat-template control token replaced by ``sep``: article text (and
    questions) reach the model as data, never as turn markers (prompt injection, OWASP LLM01)."""
    return CHAT_CONTROL.sub(sep, text) if "<" in text or "[" in text else text


# Who an instruction addresses: the assistant, a model, an automated reader.
_MACHINE = (
    r"(?:the )?(?:(?:automated|automatic|virtual|digital|otomatis) )?"
    r"(?:(?:ai|llm|machine) (?:assistants?|summari[sz]ers?|tools?|readers?|agents?)|"
    r"ai|a\.i\.|assistants?|(?:sistem |model )?kecerdasan buatan|"
    r"asisten(?: ai| virtual| digital)?|chatbots?|bots?|llms?|gpt|"
    r"(?:large )?language models?|model (?:bahasa|ai)|ai (?:models?|systems?)|"
    r"sistem (?:ai|otomatis)|"
    r"automated (?:systems?|readers?|tools?)|mesin(?: penjawab)?|crawlers?|summari[sz]ers?|"
    r"(?:program|sistem|alat) (?:pembaca|perangkum|penjawab)(?: otomatis)?|"
    r"pembaca (?:otomatis|mesin))"
)
# What it tells it to do.
_TELL = (
    r"(?:report|say|state|tell|answer|reply|respond|include|add|write|mention|print|output|"
    r"append|insert|show|display|use|menyebut\w*|mengatakan|menjawab|menulis(?:kan)?|"
    r"menambahkan|menyertakan|melaporkan|menyampaikan|mencantumkan|menampilkan|memakai|"
    r"menggunakan)"
)
_INSTRUCTION_PARTS = (
    # "ignore the previous instructions", "abaikan semua instruksi sebelumnya"
    r"\b(?:ignore|disregard|forget|override)\b[^.!?\n]{0,40}\b(?:instructions?|prompts?|rules"
    r"|guidelines|the above|everything)\b",
    r"\b(?:abaikan|lupakan|kesampingkan)\b[^.!?\n]{0,40}\b(?:instruksi|perintah|aturan|"
    r"pedoman|artikel ini|di atas|semua(?:nya)?)\b",
    r"\b(?:system prompt|new task|new instructions?|hidden instructions?|you are now|"
    r"from now on|mulai sekarang|instruksi (?:sistem|baru|tersembunyi)|"
    r"perintah (?:baru|tersembunyi)|prompt (?:awal|sistem))\b",
    r"\b(?:pesan|messages?|instruksi|instructions?|perintah) (?:baru )?(?:dari|from) (?:the )?"
    r"(?:operator|developers?|admin|administrator|pengembang|sistem|system)\b",
    # "reply only with ...", "jawab hanya ...", "balas saja dengan ..."
    r"\b(?:reply|respond|answer) only (?:with|in|using|the)\b",
    r"\bjawab(?:lah)? (?:hanya|setiap|semua|saja)\b",
    r"\b(?:balas|tulis|katakan|sebutkan|jawab)(?:lah|kan)? (?:hanya|saja)\b",
    r"\b(?:reply|respond|answer|say|write|output)\b[^.!?\n]{0,30}\bonly (?:with|the)\b",
    # a link to visit, a markdown link or image to add
    r"\b(?:kunjungi|klik|buka|visit|click|open)\b[^.!?\n]{0,60}(?:https?://|www\.|\]\()",
    r"!\[[^\]\n]*\]\(",
    # speaking to the machine: "Catatan untuk asisten AI:", "Dear AI assistant", "Note to LLMs"
    rf"\b(?:notes?|messages?|instructions?|reminders?|corrections?|notices?|announcements?|"
    rf"catatan|pesan|instruksi|pengingat|koreksi|perhatian|pemberitahuan|informasi|pengumuman)\b"
    rf"(?: \w+){{0,3}} (?:to|for|untuk|bagi|kepada) {_MACHINE}\b",
    rf"\b(?:dear|hello|hi|hey|attention|halo|hai|yth\.?) {_MACHINE}\b",
    rf"\b(?:kepada|untuk|to|for) {_MACHINE}\s*[:,]",
    # a request made to it: "Kami mohon kepada asisten AI agar ...", "we kindly ask the AI to"
    rf"\b(?:mohon|memohon|meminta|minta|harap|tolong|please|kindly|ask|request|urge)\b"
    rf"[^.!?\n]{{0,30}}\b{_MACHINE}\b",
    rf"\b{_MACHINE}\b[^.!?\n]{{0,30}}\b(?:agar|supaya|hendaknya|diminta|dimohon)\b",
    rf"\b{_MACHINE}\b(?: \w+){{0,3}} (?:must|should|shall|are (?:asked|required|told) to|"
    rf"is (?:asked|required|told) to|harus|wajib|perlu|diminta|diharapkan|hendaknya)\b"
    rf"(?: (?:always|selalu|untuk|to))? {_TELL}\b",
    r"\bif you are (?:an? )?(?:ai|assistant|language model|chatbot)\b",
    r"\b(?:jika|bila|apabila|kalau) (?:anda|kamu) (?:adalah )?(?:sebuah )?(?:ai|asisten|model)\b",
    # a rule for whatever reads or sums up this text
    rf"\b{_MACHINE}\b(?: \w+){{0,2}} (?:summari[sz]ing|reading|processing) (?:this|these|"
    rf"the (?:article|text|page|piece|report|story))\b",
    rf"\b{_MACHINE}\b(?: \w+){{0,2}} (?:yang )?(?:merangkum|membaca|memproses) "
    rf"(?:naskah|teks|berita|artikel|tulisan|halaman|laporan) ini\b",
    r"\b(?:siapa ?pun|anyone|whoever|any(?:one)? (?:who|that))\b[^.!?\n]{0,20}"
    r"\b(?:memproses|membaca|merangkum|process(?:es)?|reads?|summari[sz]es?)\b",
    r"\bwhen summari[sz]ing\b|\b(?:saat|ketika|waktu) merangkum\b",
    r"\b(?:if|when|whenever) (?:a |the |any )?users? (?:asks?|questions?|wants?)\b",
    r"\b(?:jika|bila|apabila|kalau|saat|ketika) (?:ada )?(?:pengguna|user)\b[^.!?\n]{0,20}"
    r"\b(?:bertanya|menanyakan|meminta)\b",
    r"\b(?:jawaban|ringkasan|respons|balasan|rangkuman) yang (?:kamu|anda|kau) "
    r"(?:buat|tulis|berikan|hasilkan|susun)\b",
    # "if asked about ..., say ...": a rule for later answers, not news
    r"\b(?:if|whenever) (?:you are |you're )?asked\b",
    r"\b(?:jika|bila|apabila|kalau) ditanya(?:kan)?\b",
    r"\b(?:in|to|with) (?:every|each|all|any|your) "
    r"(?:answers?|responses?|repl(?:y|ies)|summar(?:y|ies))\b",
    r"\b(?:setiap|tiap|semua) (?:jawaban|respons|balasan|ringkasan|rangkuman)\b",
    # passing a message on to the user: "tell users that ...", "sampaikan kepada pengguna"
    r"\b(?:tell|inform|remind|warn) (?:the |all )?(?:users?|readers?)\b",
    r"\b(?:users?|readers?) (?:must|should|need to) be (?:told|informed|reminded)\b",
    r"\b(?:sampaikan|beritahu(?:kan)?|katakan|informasikan) (?:kepada |pada |ke )?"
    r"(?:para )?(?:pengguna|pembaca)\b",
    # whatever reads this text: "Sistem yang membaca berita ini ...", "any tool that reads this"
    r"\b(?:sistem|program|mesin|systems?|programs?|tools?|software)\b[^.!?\n]{0,20}"
    r"\b(?:yang|that|which) (?:membaca|memproses|reads?|process(?:es)?) "
    r"(?:berita|artikel|halaman|teks|this|these|the (?:article|page|text))\b",
    # an instruction as a metadata field: {"ai_instruction": ...}, system_prompt=
    r"\b\w*(?:instructions?|prompt)[\"']?\s*[:=]",
    r"\b(?:ai|llm|model|asisten|assistant)[_-](?:instruksi|instructions?|override|prompt|"
    r"perintah|catatan|notes?|directives?|commands?)\b",
    r"\b(?:instruksi|instructions?|override|prompt|perintah|catatan|notes?|directives?|commands?)"
    r"[_-](?:\w+[_-])?(?:ai|llm|model|asisten|assistant)\b",
    r"\b(?:jawaban|respons|balasan|ringkasan)(?:mu| anda| kamu)\b",
    r"\byour (?:answer|response|reply|summary)\b",
    # a fake turn or role: "Assistant: ...", "[system]", "### Instruction"
    r"\b(?:assistant|asisten|user|pengguna|human|system|sistem)(?: ai)?\s*:(?!\s*\d)",
    rf"(?:^|(?<=[.!?\n]))\W*{_MACHINE}\s*:",  # "AI assistants: ..." opening a sentence
    r"\[system\]|#+\s*instruction|<!--",
    r"\b(?:jawaban yang benar|the (?:correct|right|true) answer)\b[^.!?\n]{0,12}:",
)
INSTRUCTION = re.compile("|".join(_INSTRUCTION_PARTS), re.IGNORECASE)
"""A sentence that speaks to the assistant instead of reporting news ("Ignore previous
instructions ...", "Abaikan semua instruksi ...", "Catatan untuk asisten AI: ...", "Dear AI
assistant, kindly ...", "Jika ditanya tentang ..., sebutkan ...", a fake "Assistant:" turn)."""


CONTACT = re.compile(
    r"https?://[^\s<>\]\[()\"']+"  # a link
    r"|\bwww\.[^\s<>\]\[()\"']+"
    r"|\[[^\]\n]{0,80}\]\([^)\s]{1,200}\)"  # a markdown link or image: [text](target)
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # an e-mail address
    r"|(?<![\w.,/])(?:\+\d{1,3}[ -]?)?(?:\(\d{1,4}\)[ -]?)?\d{2,4}(?:[ -]\d{2,8}){1,4}"
    r"(?![\w/]|[.,]\d)"
)
"""A link, a markdown link or image, an e-mail address, or something written like a phone
number (nine digits or more in groups; :func:`contacts` counts): text an answer may show only
when a cited passage holds it and the question asks for it."""

CONTACT_LIKE = re.compile(r"https?:|www\.|\]\(|@")
"""Where text may start becoming a :data:`CONTACT`: the stream holds back from here."""

ASKS_CONTACT = re.compile(
    r"\b(?:link|links|tautan|situs|website|web|laman|url|alamat|address|e-?mail|surel|"
    r"telepon|telp|phone|nomor|kontak|contact|hubungi|reach)\b",
    re.IGNORECASE,
)
"""A question that asks for a link, an address or a number to call."""


def contacts(text: str) -> list[tuple[int, int]]:
    """The :data:`CONTACT` spans of ``text``, closing punctuation left out (a phone-like one
    needs nine digits or more)."""
    out = []
    for m in CONTACT.finditer(text):
        found = m.group().rstrip(".,;:!?")
        if found[0] in "+(0123456789" and sum(c.isdigit() for c in found) < 9:
            continue
        out.append((m.start(), m.start() + len(found)))
    return out


_CLOSING = re.compile(r"<\|(?:im_end|eot_id|end)\|>|</|\[/|<end_of_turn>")
"""A control token that closes a turn."""

_ROLE = re.compile(r"\s*(system|assistant|user|human|model|bot)\b[ \t]*\n?", re.IGNORECASE)
"""The role a turn marker opens, written right after it ("<|im_start|>system")."""


def _turns(text: str) -> list[tuple[str, bool]]:
    """``text`` cut at its control tokens: each piece with whether a fake turn holds it (one
    opened by a marker, other than a user's, and not yet closed)."""
    out, at, fake = [], 0, False
    for match in CHAT_CONTROL.finditer(text):
        out.append((text[at : match.start()], fake))
        at = match.end()
        fake = False
        if not _CLOSING.match(match.group()):
            role = _ROLE.match(text, at)
            fake = not (role and role.group(1).lower() in ("user", "human"))
            at = role.end() if role else at  # the role's name is no sentence
    out.append((text[at:], fake))
    return out


def _sentences(text: str) -> list[tuple[str, bool]]:
    """``text``'s sentences, each with whether it instructs the assistant: it matches
    :data:`INSTRUCTION`, or a fake turn (:func:`_turns`) holds it."""
    pieces = _turns(text) if "<" in text or "[" in text else [(text, False)]
    out = []
    for piece, fake in pieces:
        for sentence in PASSAGE_SENTENCE_BREAK.split(piece):
            if clean := sentence.strip():
                out.append((clean, fake or bool(INSTRUCTION.search(clean))))
    return out


def _may_instruct(text: str) -> bool:
    if INSTRUCTION.search(text):
        return True
    return ("<" in text or "[" in text) and bool(CHAT_CONTROL.search(text))


def instruction_sentences(text: str) -> list[str]:
    """The sentences of ``text`` that instruct the assistant (:func:`_sentences`): kept in the
    document and its sources, never given to the model as evidence."""
    if not _may_instruct(text):
        return []
    return [sentence for sentence, instructs in _sentences(text) if instructs]


def model_view(text: str) -> str:
    """Article text as the model reads it: without the sentences that instruct the assistant
    and without control tokens (an article is data, and a small model may obey a sentence
    that tells it what to answer)."""
    if not _may_instruct(text):
        return text
    return " ".join(sentence for sentence, instructs in _sentences(text) if not instructs)
