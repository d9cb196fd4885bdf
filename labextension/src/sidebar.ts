/**
 * The "Ytung" left sidebar: an accordion of sections (Overview, Virtual clusters, Dev
 * environments, Training, Datasets, Annotation).
 *
 * Six expanded sections would share the sidebar's height, each too short to use; so on first
 * load only Overview is expanded, and from then on the sidebar remembers which sections the
 * user expanded (in `localStorage`, per JupyterLab base URL: one browser may open the Labs of
 * several users of the same hub) and restores them after a reload. A collapsed section is a
 * hidden widget, so the polling ones stop polling while collapsed.
 */
import { PageConfig } from '@jupyterlab/coreutils';
import type { ITranslator } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import type { AccordionPanel, Widget } from '@lumino/widgets';

import { ytungIcon } from './icons';
import { TRANSLATION_DOMAIN } from './tokens';

/** The ids of the sections expanded on first load. */
export const DEFAULT_EXPANDED: readonly string[] = ['ytung-overview-panel'];

/** The `localStorage` key of the expanded sections of the Lab at `baseUrl`. */
export function expansionKey(baseUrl: string): string {
  return `ytung:sidebar:expanded:${baseUrl}`;
}

/**
 * Where the expanded sections are kept: reads answer `null` when nothing (or nothing readable)
 * was stored, and a storage that refuses (private mode, quota) only loses the memory.
 */
export class ExpansionMemory {
  constructor(
    readonly key: string = expansionKey(PageConfig.getBaseUrl()),
    private readonly _storage: Pick<Storage, 'getItem' | 'setItem'> | null = localStorageOrNull()
  ) {}

  load(): string[] | null {
    try {
      const value = JSON.parse(this._storage?.getItem(this.key) ?? 'null');
      return Array.isArray(value) && value.every(id => typeof id === 'string') ? value : null;
    } catch {
      return null;
    }
  }

  save(ids: string[]): void {
    try {
      this._storage?.setItem(this.key, JSON.stringify(ids));
    } catch {
      // the layout is a convenience: not remembering it is no error
    }
  }
}

function localStorageOrNull(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

export class YtungSidebar extends SidePanel {
  constructor(
    translator: ITranslator,
    private readonly _memory: ExpansionMemory = new ExpansionMemory()
  ) {
    super({ translator });
    const trans = translator.load(TRANSLATION_DOMAIN);
    this.id = 'ytung-sidebar';
    this.addClass('ytung-sidebar');
    this.title.icon = ytungIcon;
    this.title.caption = trans.__('Ytung');
    const heading = document.createElement('h2');
    heading.className = 'ytung-sidebar-title';
    heading.textContent = trans.__('Ytung');
    this.header.node.appendChild(heading);
    this.accordion.expansionToggled.connect(this._remember, this);
  }

  private get accordion(): AccordionPanel {
    return this.content as AccordionPanel;
  }

  /**
   * Add a section (a widget whose `id` names it for the memory and whose `title.label` is its
   * heading) at the end of the accordion, expanded if it was expanded last time (first load:
   * if it is one of `DEFAULT_EXPANDED`).
   */
  addSection(widget: Widget): void {
    this.addWidget(widget);
    const expanded = this._memory.load() ?? DEFAULT_EXPANDED;
    const index = this.widgets.indexOf(widget);
    this._restoring = true;
    try {
      if (expanded.includes(widget.id)) {
        this.accordion.expand(index);
      } else {
        this.accordion.collapse(index);
      }
    } finally {
      this._restoring = false;
    }
  }

  /** The ids of the expanded sections, in order. */
  get expandedSections(): string[] {
    return this.widgets.filter(w => !w.isHidden).map(w => w.id);
  }

  private _restoring = false;

  private _remember(): void {
    if (!this._restoring) {
      this._memory.save(this.expandedSections);
    }
  }
}
