() => {
  // Clicking [n] in an answer scrolls its passage into view and flashes it. Delegated from
  // the document so it survives every re-render of the chat. (Read by ui.app at build time;
  // the file must start with the function itself.)
  if (window.__ragCiteHandler) return;
  window.__ragCiteHandler = true;
  document.addEventListener('click', (ev) => {
    const link = ev.target && ev.target.closest ? ev.target.closest('a.rag-cite') : null;
    if (!link) return;
    ev.preventDefault();
    const id = (link.getAttribute('href') || '').replace(/^#/, '');
    const el = id ? document.getElementById(id) : null;
    if (!el) return;
    const details = el.closest('details');
    if (details) details.open = true;
    document.querySelectorAll('.rag-src.rag-focus').forEach((x) => x.classList.remove('rag-focus'));
    el.classList.add('rag-focus');
    el.scrollIntoView({behavior: 'smooth', block: 'center'});
  }, true);
}
