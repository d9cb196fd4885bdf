/**
 * The sidebar's accordion: Overview alone expanded on first load, and the sections the user
 * expanded or collapsed remembered across a reload (a new sidebar on the same storage).
 */
import { nullTranslator } from '@jupyterlab/translation';
import { AccordionPanel, Widget } from '@lumino/widgets';

import { DEFAULT_EXPANDED, ExpansionMemory, expansionKey, YtungSidebar } from '../sidebar';

const IDS = [
  'ytung-overview-panel',
  'ytung-vcs-panel',
  'ytung-devenvs-panel',
  'ytung-training-panel',
  'ytung-datasets-panel',
  'ytung-annotation-panel'
];

/** A `Storage` in memory (what `localStorage` keeps between two loads of the Lab). */
class MemoryStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

function section(id: string): Widget {
  const widget = new Widget();
  widget.id = id;
  widget.title.label = id.replace('ytung-', '').replace('-panel', '');
  return widget;
}

/** A sidebar attached to the document, with the six sections, as the plugin builds it. */
function load(storage: MemoryStorage, baseUrl = '/user/pia/'): YtungSidebar {
  const sidebar = new YtungSidebar(
    nullTranslator,
    new ExpansionMemory(expansionKey(baseUrl), storage)
  );
  IDS.forEach(id => sidebar.addSection(section(id)));
  Widget.attach(sidebar, document.body);
  return sidebar;
}

function titles(sidebar: YtungSidebar): readonly HTMLElement[] {
  return (sidebar.content as AccordionPanel).titles;
}

function expandedTitles(sidebar: YtungSidebar): string[] {
  return titles(sidebar)
    .filter(t => t.getAttribute('aria-expanded') === 'true')
    .map(t => t.textContent!.trim());
}

describe('YtungSidebar', () => {
  let sidebars: YtungSidebar[] = [];
  afterEach(() => {
    sidebars.forEach(s => s.dispose());
    sidebars = [];
  });
  const open = (storage: MemoryStorage, baseUrl?: string) => {
    const sidebar = load(storage, baseUrl);
    sidebars.push(sidebar);
    return sidebar;
  };

  it('expands only Overview on first load and stores nothing until the user acts', () => {
    const storage = new MemoryStorage();
    const sidebar = open(storage);
    expect(sidebar.expandedSections).toEqual([...DEFAULT_EXPANDED]);
    expect(expandedTitles(sidebar)).toEqual(['overview']);
    expect(sidebar.widgets.filter(w => w.isHidden).map(w => w.id)).toEqual(IDS.slice(1));
    expect(storage.items.size).toBe(0);
  });

  it('remembers the sections the user expanded and collapsed across a reload', () => {
    const storage = new MemoryStorage();
    const first = open(storage);
    titles(first)[4].click(); // expand Datasets
    titles(first)[0].click(); // collapse Overview
    titles(first)[5].click(); // expand Annotation
    expect(first.expandedSections).toEqual(['ytung-datasets-panel', 'ytung-annotation-panel']);
    expect(JSON.parse(storage.getItem(expansionKey('/user/pia/'))!)).toEqual([
      'ytung-datasets-panel',
      'ytung-annotation-panel'
    ]);

    const reloaded = open(storage);
    expect(reloaded.expandedSections).toEqual(['ytung-datasets-panel', 'ytung-annotation-panel']);
    expect(expandedTitles(reloaded)).toEqual(['datasets', 'annotation']);

    // everything collapsed is a layout too, not "first load"
    titles(reloaded)[4].click();
    titles(reloaded)[5].click();
    expect(open(storage).expandedSections).toEqual([]);
  });

  it("keeps each user's layout apart and ignores what it cannot read", () => {
    const storage = new MemoryStorage();
    titles(open(storage, '/user/pia/'))[1].click();
    expect(open(storage, '/user/pia/').expandedSections).toEqual([
      'ytung-overview-panel',
      'ytung-vcs-panel'
    ]);
    expect(open(storage, '/user/hana/').expandedSections).toEqual([...DEFAULT_EXPANDED]);

    for (const stored of ['{not json', '"ytung-vcs-panel"', '[1, 2]']) {
      storage.setItem(expansionKey('/user/ivy/'), stored);
      expect(open(storage, '/user/ivy/').expandedSections).toEqual([...DEFAULT_EXPANDED]);
    }
  });

  it('works without a storage, or with one that refuses to write', () => {
    const refusing = {
      getItem: () => null,
      setItem: () => {
        throw new Error('QuotaExceededError');
      }
    };
    const sidebar = new YtungSidebar(nullTranslator, new ExpansionMemory('k', refusing));
    sidebars.push(sidebar);
    IDS.forEach(id => sidebar.addSection(section(id)));
    Widget.attach(sidebar, document.body);
    titles(sidebar)[2].click();
    expect(sidebar.expandedSections).toEqual(['ytung-overview-panel', 'ytung-devenvs-panel']);
    expect(new ExpansionMemory('k', null).load()).toBeNull();
  });
});
