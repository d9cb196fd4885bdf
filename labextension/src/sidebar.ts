/**
 * The "Ytung" left sidebar: an accordion of sections (Overview, Virtual clusters; Dev
 * environments, Training, Datasets, … join it as more panels are written).
 */
import type { ITranslator } from '@jupyterlab/translation';
import { SidePanel } from '@jupyterlab/ui-components';
import type { Widget } from '@lumino/widgets';

import { ytungIcon } from './icons';
import { TRANSLATION_DOMAIN } from './tokens';

export class YtungSidebar extends SidePanel {
  constructor(translator: ITranslator) {
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
  }

  /** Add a section (a widget whose `title.label` names it) at the end of the accordion. */
  addSection(widget: Widget): void {
    this.addWidget(widget);
  }
}
