"""Read bulletin issue files: decode them, recover their layout, split them into articles.

The steps, each a module of this package:

* :mod:`~retrieval.parse.files` reads a file (or the page files of one issue) with its
  metadata: sidecar, front matter, file name, masthead; an article cut by a page break
  is joined again;
* :mod:`~retrieval.parse.decode` detects the encoding of a text file, and
  :mod:`~retrieval.parse.columns` reads its columns one after another where it prints
  them side by side;
* :mod:`~retrieval.parse.pdf` lays out a PDF's text layer, columns kept apart, headlines
  (printed larger) marked as headings; :mod:`~retrieval.parse.ocr` reads scanned pages
  and page images with RapidOCR and lays them out the same way;
* :mod:`~retrieval.parse.articles` recognises the layout of the text and splits it:
  structured issues (:mod:`~retrieval.parse.structured`, articles between ``====``
  lines), pages with marked headlines (:mod:`~retrieval.parse.marked`), hard-wrapped
  OCR text (:mod:`~retrieval.parse.layout`), or OCR pages with a paragraph a line
  (:mod:`~retrieval.parse.cleanup` repairs the text, :mod:`~retrieval.parse.pages`
  finds headlines, labels and bylines);
* :mod:`~retrieval.parse.masthead` reads paper name, date and page off a page's top, and
  :mod:`~retrieval.parse.furniture` knows the rest of what a page prints around its
  articles.
"""

from retrieval.parse.articles import split_articles
from retrieval.parse.cleanup import clean_text
from retrieval.parse.decode import decode_text
from retrieval.parse.errors import BadFileError
from retrieval.parse.files import group_issue_files, read_issue, read_issue_files

__all__ = [
    "BadFileError",
    "clean_text",
    "decode_text",
    "group_issue_files",
    "read_issue",
    "read_issue_files",
    "split_articles",
]
