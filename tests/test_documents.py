"""Loading and cleaning documents: the five scraped seeds, generic debris, every file format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from rag.documents import (
    SUPPORTED_SUFFIXES,
    Document,
    clean_text,
    document_from_text,
    load_paths,
    parse_date,
    short_title,
)
from rag.errors import InputError

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _flat(text: str) -> str:
    return " ".join(text.split())


# Distinctive body sentences from the beginning, middle and end of each seed.
BODY = {
    "000_a9ce33f359e193a2.txt": [
        "Jajaki kerja sama konkret antara Indonesia dna Aliansi Pasififik di bidang gender",
        "Pertemuan tersebut membahas upaya menjembatani kesenjangan digital dan upaya pembiayaan "
        "kewirausahaan perempuan, sebagai tindak lanjut prakarsa Indonesia yang disampaikan pada "
        '“the 2nd Cooperation Forum of the Pacific Alliance: ASEAN Chapter" pada tanggal 24 '
        "November 2020.",
        "Disampaikan 5 program prioritas bagi perempuan dan anak seperti: pelatihan "
        "kewirausahaan bagi perempuan; penyediaan layanan keuangan",
        "Kawasan ini memiliki total populasi 229,3 juta orang dan total GDP sebesar USO 2,1 "
        "triliun dengan rata-rata total GDP perkapita sebesar USO 9.660.",
        "Indonesia telah menjadi negara observer sejak tahun 2015",
    ],
    "001_01c077a90a88fb6e.txt": [
        "Indonesian Diaspora Network (IDN) Global turut hadir dalam Simposium Nasional",
        "Acara yang berlangsung luring di Fairmont Hotel Jakarta pada Selasa (23/7) ini",
        "Adapun proyek ini telah mencapai 3 (tiga) hasil penting.",
        "3) Mempromosikan pembiayaan berkelanjutan yang inovatif.",
        "bermanfaat bagi lebih dari 3 juta pekerja migran Indonesia.",
    ],
    "002_5add8623586c170c.txt": [
        "Program ini diikuti oleh negara-negara Organisasi Internasional Colombo Plan.",
        "Program peningkatan kapasitas diikuti oleh kalangan birokrat aparatur pemerintah hingga "
        "pelaku anggota IKM.",
        "Ada sebanyak 61 peserta dari 13 negara anggota Colombo Plan",
        "Rencana dari pelaksanaan program ini akan terus berlanjut sampai pada tahun 2020 secara "
        "offline di Bali.",
        "juga dapat memperkaryakan masyarakat dalam kegiatannya.",
    ],
    "003_26416775c907210e.txt": [
        "Semarang (14/11) - Pada 2019 ini, Kementerian Pemberdayaan Perempuan",
        "Hal ini sesuai dengan kesepakatan bersama (MoU) yang telah dilakukan bersama 21 "
        "Bupati/Walikota yang wilayahnya menjadi model IR.",
        "1. Seluruh provinsi dan kabupaten/kota yang hadir mencatat bahwa komitmen, koordinasi "
        "dan sinergi merupakan salah satu kunci keberhasilan",
        "4. Dalam mempercepat pengembangan IR di daerah",
        "b. penerapan mekanisme monitoring dan evaluasi IR:",
        "d. insentif pendamping disesuaikan dengan standar nasional.",
        "7. Pengembangan model IR menjadi program nasional.",
        "dapat meningkatkan pendapatan dan taraf hidup perempuan dan keluarga,” pungkas Erni.",
    ],
    "004_3ce22eceb3ce4dae.txt": [
        "di Jakarta Pusat pada Jumat (17/11/2023).",
        "Dalam penandatangan ini, Komnas Perempuan diwakili oleh Alimatul Qibtiyah",
        "Beberapa ruang lingkup perjanjian kerja sama melingkupi tersedianya ruang diskusi",
        "dengan 30 peserta pelatihan yang di wakili akademisi dan pegiat sosial dari "
        "negara-negara mayoritas Islam, yaitu Indonesia, Malaysia, dan Pakistan.",
    ],
}

DEBRIS = [
    "Leave a Reply",
    "Your email address will not be published",
    "Akismet",
    "Pertanyaan / Komentar",
    "Publikasi Lainya",
    "Panasonic Gobel",
    "Siaran Pers",
    "Dibaca",
    "263 Kali",
    "Dipublikasikan Pada",
    "Telp",
    "3448510",
    "publikasi@kemenpppa.go.id",
    "website :",
    "PUBLIKASI DAN MEDIA",
    "PEREMPUAN DAN PERLINDUNGAN ANAK",
    "Kabar Perempuan",
    "•",
    "...",
    "\u00a0",
    "  ",
]

TITLES = {
    "003_26416775c907210e.txt": (
        "Komitmen, Koordinasi dan Sinergi, Kunci Tingkatkan Replikasi IR di Daerah"
    ),
    "004_3ce22eceb3ce4dae.txt": (
        "Komnas Perempuan dan INFID Kerja Sama Kuatkan Peran Perempuan di Negara-Negara "
        "Mayoritas Islam"
    ),
}
DATES = {
    "000_a9ce33f359e193a2.txt": "2021-08-20",
    "001_01c077a90a88fb6e.txt": None,  # only "(23/7)": the year is unknown
    "002_5add8623586c170c.txt": "2021-09-14",
    "003_26416775c907210e.txt": "2019-11-15",
    "004_3ce22eceb3ce4dae.txt": "2023-11-17",
}


@pytest.fixture(scope="module")
def seeds() -> dict[str, Document]:
    return {doc.id: doc for doc in load_paths([SEEDS])}


def test_seeds_load_in_sorted_order_with_file_names_as_ids(seeds: dict[str, Document]) -> None:
    assert list(seeds) == sorted(p.name for p in SEEDS.iterdir())
    for doc in seeds.values():
        assert doc.path == str((SEEDS / doc.id).resolve())


@pytest.mark.parametrize("name", sorted(BODY))
def test_seed_keeps_every_body_sentence(seeds: dict[str, Document], name: str) -> None:
    text = _flat(seeds[name].text)
    for sentence in BODY[name]:
        assert _flat(sentence) in text


@pytest.mark.parametrize("name", sorted(BODY))
def test_seed_debris_is_gone(seeds: dict[str, Document], name: str) -> None:
    text = seeds[name].text
    for debris in DEBRIS:
        assert debris not in text, debris
    assert "\n\n\n" not in text
    assert text == text.strip()
    assert not text.rstrip().endswith("Comments")


def test_seed_000_broken_lines_are_joined(seeds: dict[str, Document]) -> None:
    lines = seeds["000_a9ce33f359e193a2.txt"].text.split("\n")
    # Every line is now a whole sentence (ending in "." or the "(marpa)" trailer).
    assert all(line.rstrip(")").endswith(".") or line.endswith("(marpa)") for line in lines)
    assert "upaya\nmenjembatani" not in seeds["000_a9ce33f359e193a2.txt"].text


def test_seed_paragraph_breaks_are_kept(seeds: dict[str, Document]) -> None:
    text = seeds["002_5add8623586c170c.txt"].text
    assert text.count("\n\n") == 6  # seven paragraphs
    assert "Colombo Plan.\n\nColombo Plan adalah" in text


@pytest.mark.parametrize("name", sorted(DATES))
def test_seed_dates(seeds: dict[str, Document], name: str) -> None:
    assert seeds[name].date == DATES[name]


def test_seed_titles(seeds: dict[str, Document]) -> None:
    for name, title in TITLES.items():
        assert seeds[name].title == title
        assert seeds[name].text.startswith(title + "\n\n")
    # No heading line: a short title from the first sentence, dateline dropped, cut at a word.
    assert seeds["000_a9ce33f359e193a2.txt"].title.startswith("Jajaki kerja sama konkret")
    assert seeds["001_01c077a90a88fb6e.txt"].title.startswith("Indonesian Diaspora Network")
    assert seeds["002_5add8623586c170c.txt"].title.startswith("Program untuk meningkatkan")
    for doc in seeds.values():
        assert 10 <= len(doc.title) <= 100
        if doc.title.endswith("…"):
            assert _flat(doc.title[:-1]) in _flat(doc.text)
            assert len(doc.title) <= 80


def test_clean_text_is_idempotent_on_seeds(seeds: dict[str, Document]) -> None:
    for doc in seeds.values():
        assert clean_text(doc.text) == doc.text


def test_content_hash_is_sha256_of_text_without_whitespace(seeds: dict[str, Document]) -> None:
    doc = seeds["000_a9ce33f359e193a2.txt"]
    bare = "".join(doc.text.split())
    assert doc.content_hash == hashlib.sha256(bare.encode("utf-8")).hexdigest()
    assert doc.content_hash != seeds["001_01c077a90a88fb6e.txt"].content_hash
    respaced = Document(id="x", text=doc.text.replace(". ", ".\n\n", 3), title="")
    assert respaced.content_hash == doc.content_hash
    edited = Document(id="x", text=doc.text.replace("Indonesia", "lndonesia", 1), title="")
    assert edited.content_hash != doc.content_hash


ENGLISH_PAGE = """Home > World > Europe

City council approves new
budget for schools

Posted on March 3, 2021 by admin
• 1,234 views

The city council on Tuesday approved a budget that
increases spending on schools by 12 percent.   Officials said the money
will fund 40 new teachers.

"We are proud of this," the mayor said.

Read also: Mayor opens new library
ADVERTISEMENT

Tags: budget, schools
Share this:
Facebook Twitter WhatsApp

Related Posts
Another story headline that must not appear
Leave a Reply
Your email address will not be published. Required fields are marked *
© 2021 City News. All rights reserved.
"""


def test_clean_text_generalises_to_an_english_page() -> None:
    doc = document_from_text("city.txt", ENGLISH_PAGE)
    assert doc.text == (
        "City council approves new budget for schools\n\n"
        "The city council on Tuesday approved a budget that increases spending on schools by "
        "12 percent. Officials said the money will fund 40 new teachers.\n\n"
        '"We are proud of this," the mayor said.'
    )
    assert doc.title == "City council approves new budget for schools"
    assert doc.date == "2021-03-03"


def test_clean_text_line_rules() -> None:
    raw = (
        "...\n"
        "An opening sentence that is long enough to count as body text for sure.\n"
        "  •  First point\n"
        "  •  Second point\n"
        "\n\n\n"
        "Dilihat: 1.024 kali\n"
        "A sentence broken at a comma,\n"
        "Which Continues Here.\n"
        "Tel: +62 21 555 1234\n"
        "Email: desk@example.org\n"
        "Comments\n"
    )
    assert clean_text(raw) == (
        "An opening sentence that is long enough to count as body text for sure.\n"
        "First point\n"
        "Second point\n\n"
        "A sentence broken at a comma, Which Continues Here."
    )


def test_clean_text_keeps_body_that_resembles_debris() -> None:
    raw = (
        "Humas Polda Metro Jaya menyatakan bahwa pelaku sudah ditangkap pada pagi hari.\n"
        "Updated figures show 5 March 2020 was the peak of the outbreak.\n"
        "Berita terkait korupsi itu terus berkembang hingga hari ini di berbagai daerah.\n"
        "Web 2.0 adalah istilah lama."
    )
    assert clean_text(raw) == raw


def test_clean_text_normalises_crlf_and_spaces() -> None:
    raw = "First\u00a0 line  ends here.\r\n\r\nSecond\tparagraph.\r\n"
    assert clean_text(raw) == "First line ends here.\n\nSecond paragraph."


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("setinggi 3, 50 meter dan USO 2, 1 triliun.", "setinggi 3,50 meter dan USO 2,1 triliun."),
        ("Rp 114, 48 miliar atau 0, 83 persen.", "Rp 114,48 miliar atau 0,83 persen."),
        ("menjadi 1.162, 635 poin.", "menjadi 1.162,635 poin."),
        ("China (21, 16, 12) dan Jepang.", "China (21, 16, 12) dan Jepang."),
        ("Skor (25-23, 25-23, 25-21).", "Skor (25-23, 25-23, 25-21)."),
        ("listrik 3, 0-3, 5 kV.", "listrik 3, 0-3, 5 kV."),
        ("Pada 2004, 25 orang tewas.", "Pada 2004, 25 orang tewas."),
        ("Sejak November 15, 2019 ada 3 korban.", "Sejak November 15, 2019 ada 3 korban."),
    ],
)
def test_clean_text_rejoins_split_decimals_only(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("Dipublikasikan Pada : Jumat, 15 November 2019", "2019-11-15"),
        ("Jakarta (20/08/2021).", "2021-08-20"),
        ("Jumat (17/11/2023)", "2023-11-17"),
        ("Selasa ( 14/9/2021)", "2021-09-14"),
        ("November 15, 2019", "2019-11-15"),
        ("Nov. 5th, 2019", "2019-11-05"),
        ("3 Mei 2020", "2020-05-03"),
        ("17 Agustus 1945", "1945-08-17"),
        ("2022-04-05T10:00:00Z", "2022-04-05"),
        ("Selasa (23/7)", None),
        ("31/02/2020", None),
        ("sebesar USO 9.660", None),
    ],
)
def test_parse_date(value: str, iso: str | None) -> None:
    assert parse_date(value) == iso


def test_short_title_cuts_at_a_word() -> None:
    text = "JAKARTA, KOMPAS.com - " + " ".join(["kata"] * 40) + ". Kalimat kedua."
    title = short_title(text)
    assert title.startswith("kata kata")
    assert len(title) <= 80
    assert title.endswith("kata…")


def test_txt_front_matter(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(
        "Title: Hello World\nURL: https://example.com/a\nDate: 5 Maret 2022\n\nBody one. Body two.",
        encoding="utf-8",
    )
    [doc] = load_paths([path])
    assert (doc.id, doc.title, doc.url, doc.date) == (
        "a.txt",
        "Hello World",
        "https://example.com/a",
        "2022-03-05",
    )
    assert doc.text == "Body one. Body two."


def test_markdown_is_plain_text(tmp_path: Path) -> None:
    path = tmp_path / "post.md"
    path.write_text(
        '---\ntitle: "My Post"\ndate: 2024-01-05\nurl: https://example.com/p\n---\n\n'
        "# Heading One\n\n"
        "Some **bold** and *italic* text with a [link](http://x.y) and ![img](a.png) image.\n\n"
        "- item one\n- item two\n\n> quoted line\n",
        encoding="utf-8",
    )
    [doc] = load_paths([path])
    assert doc.text == (
        "Heading One\n\nSome bold and italic text with a link and image.\n\n"
        "item one\nitem two\n\nquoted line"
    )
    assert (doc.title, doc.date, doc.url) == ("My Post", "2024-01-05", "https://example.com/p")
    [doc] = load_paths([_write(tmp_path / "b.md", "## Only Heading\n\nBody __text__ here.")])
    assert (doc.title, doc.text) == ("Only Heading", "Only Heading\n\nBody text here.")


PAGE = """<!doctype html><html><head><title>Title tag | Site</title>
<meta property="og:title" content="OG Title">
<link rel="canonical" href="https://example.com/c">
<meta property="article:published_time" content="2022-04-05T10:00:00Z">
<script>var secret = "script text";</script><style>p { color: red }</style></head>
<body><nav>Home | News | Sport</nav>
<article><h1>The H1</h1><p>First para with <b>bold</b>
   text and a<br>line break.</p><!-- a comment --><p>Second &amp; para.</p>
<aside>Sidebar ad</aside><form>Leave a comment <input></form></article>
<footer>Footer text</footer></body></html>"""


def test_html_page(tmp_path: Path) -> None:
    [doc] = load_paths([_write(tmp_path / "page.html", PAGE)])
    assert doc.text == "The H1\n\nFirst para with bold text and a line break.\n\nSecond & para."
    assert (doc.title, doc.url, doc.date) == ("OG Title", "https://example.com/c", "2022-04-05")


def test_html_fallbacks(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Only the title tag</title></head><body><div><p>One. Two.</p>"
        '<time datetime="2020-02-29">Feb 29</time></div></body></html>'
    )
    [doc] = load_paths([_write(tmp_path / "x.htm", page)])
    assert (doc.title, doc.date, doc.url) == ("Only the title tag", "2020-02-29", None)
    assert doc.text.startswith("One. Two.")


def test_jsonl_records(tmp_path: Path) -> None:
    lines = [
        {
            "id": "r1",
            "text": "Alpha sentence.\n\nBeta sentence.",
            "title": "T1",
            "date": "2020-01-02",
        },
        {"id": 7, "text": "Gamma (15/03/2021) sentence.", "url": "https://e.x/7"},
    ]
    path = _write(tmp_path / "docs.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    docs = list(load_paths([path]))
    assert [(d.id, d.title, d.date, d.url) for d in docs] == [
        ("r1", "T1", "2020-01-02", None),
        ("7", "Gamma (15/03/2021) sentence", "2021-03-15", "https://e.x/7"),
    ]
    assert docs[0].text == "Alpha sentence.\n\nBeta sentence."


@pytest.mark.parametrize(
    "bad",
    ["{not json", '["a list"]', '{"text": "no id"}', '{"id": "x"}', '{"id": "x", "text": 3}'],
)
def test_jsonl_bad_line_names_file_and_line(tmp_path: Path, bad: str) -> None:
    good = json.dumps({"id": "ok", "text": "Fine."})
    path = _write(tmp_path / "bad.jsonl", f"{good}\n{bad}\n")
    with pytest.raises(InputError) as err:
        list(load_paths([path]))
    message = str(err.value)
    assert "bad.jsonl: 1 bad line(s) (2); line 2: " in message
    assert "nothing of this file was indexed" in message
    assert "\n" not in message


def test_jsonl_with_bad_lines_is_rejected_whole_naming_every_line(tmp_path: Path) -> None:
    good = json.dumps({"id": "ok", "text": "Fine."})
    path = _write(
        tmp_path / "many.jsonl", "\n".join([good, "{x", good.replace("ok", "b"), "[]", "{y"])
    )
    with pytest.raises(
        InputError, match=r"many.jsonl: 3 bad line\(s\) \(2, 4, 5\); line 2: not valid"
    ):
        list(load_paths([path]))


def test_empty_binary_and_oversized_files_are_refused_in_one_line(tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.txt", "  \n")
    binary = tmp_path / "photo.txt"
    binary.write_bytes(bytes(range(256)) * 20)
    big = _write(tmp_path / "big.txt", "Kata yang panjang. " * 2000)
    for path, why in ((empty, "is empty"), (binary, "holds binary data, not text")):
        with pytest.raises(InputError, match=why):
            list(load_paths([path]))
    with pytest.raises(InputError, match=r"over the 0.01 MB limit for one file; .*RAG_MAX_FILE_MB"):
        list(load_paths([big], max_file_bytes=10_000))
    assert len(list(load_paths([big], max_file_bytes=1_000_000))) == 1


def test_legacy_encodings_are_decoded_right(tmp_path: Path) -> None:
    text = "Café di Jakarta menjual kopi susu yang enak sekali.\n"
    for encoding in ("cp1252", "latin-1", "utf-16", "utf-8-sig"):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(text.encode(encoding))
        assert [d.text for d in load_paths([path])] == [text.strip()], encoding


def test_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = _write(tmp_path / "secret.txt", "Rahasia yang tidak boleh diindeks sama sekali.")
    folder = tmp_path / "articles"
    _write(folder / "a.txt", "Berita biasa tentang pasar dan harga beras.")
    (folder / "b.txt").symlink_to(outside)
    with pytest.raises(InputError, match=r"b.txt links to .*secret.txt, outside"):
        list(load_paths([folder]))
    (folder / "b.txt").unlink()
    (folder / "c.txt").symlink_to(folder / "a.txt")  # a link within the folder is fine
    assert sorted(d.id for d in load_paths([folder])) == ["a.txt"]  # the same file, read once


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_folder_recursive_sorted_hidden_and_unsupported_skipped(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    _write(root / "b.txt", "Bee.")
    _write(root / "a.md", "Ay.")
    _write(root / "sub" / "x.txt", "Ex.")
    _write(root / "sub" / "page.HTML", "<p>Page.</p>")
    _write(root / ".hidden.txt", "Hidden.")
    _write(root / ".git" / "c.txt", "Hidden dir.")
    _write(root / "notes.odt", "not supported")
    _write(root / "recs.jsonl", json.dumps({"id": "rec-1", "text": "Record."}))
    docs = list(load_paths([root]))
    assert [d.id for d in docs] == ["a.md", "b.txt", "rec-1", "sub/page.HTML", "sub/x.txt"]
    assert [d.text for d in docs] == ["Ay.", "Bee.", "Record.", "Page.", "Ex."]


def test_file_given_directly_uses_its_name_and_is_not_loaded_twice(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    path = _write(root / "sub" / "x.txt", "Ex.")
    assert [d.id for d in load_paths([path])] == ["x.txt"]
    assert [d.id for d in load_paths([str(root), path])] == ["sub/x.txt"]


def test_unsupported_file_given_explicitly(tmp_path: Path) -> None:
    path = _write(tmp_path / "report.odt", "x")
    with pytest.raises(InputError) as err:
        list(load_paths([path]))
    message = str(err.value)
    assert "report.odt" in message and "\n" not in message
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in message


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        list(load_paths([tmp_path / "nope"]))


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    first = _write(tmp_path / "one" / "a.txt", "One.")
    second = _write(tmp_path / "two" / "a.txt", "Two.")
    with pytest.raises(InputError, match="'a.txt' is used by"):
        list(load_paths([first, second]))
    dup = _write(tmp_path / "d.jsonl", '{"id": "x", "text": "A."}\n{"id": "x", "text": "B."}\n')
    with pytest.raises(InputError, match="twice"):
        list(load_paths([dup]))


def test_non_utf8_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Café Straße.".encode("cp1252"))
    [doc] = load_paths([path])
    assert doc.text == "Café Straße."


def test_furniture_above_the_article_is_dropped_without_losing_the_article() -> None:
    raw = (
        "Share this:\nRelated\n\n"
        "The article starts here and is long enough to be the body of the page.\n"
        "It goes on."
    )
    assert clean_text(raw) == (
        "The article starts here and is long enough to be the body of the page.\nIt goes on."
    )


def test_hyphenated_first_word_is_not_a_dateline() -> None:
    from rag.documents import short_title

    assert short_title("Festival Layang-Layang Pangandaran 2024 diikuti ratusan peserta.") == (
        "Festival Layang-Layang Pangandaran 2024 diikuti ratusan peserta"
    )
    assert short_title("Semarang (14/11) - Pada 2019 ini, Kementerian bekerja sama.") == (
        "Pada 2019 ini, Kementerian bekerja sama"
    )
