/**
 * The Ytung JupyterLab extension: a left sidebar whose sections call the `ytung_server_ext`
 * handlers (`/ytung/api/*`), which forward to the platform service.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';

import { setLanguage } from './handler';
import { openLabeling } from './labeling/widget';
import { AnnotationPanel } from './panels/annotation';
import { DatasetsPanel } from './panels/datasets';
import { DevEnvsPanel } from './panels/devenvs';
import { OverviewPanel } from './panels/overview';
import { TrainingPanel } from './panels/training';
import { VirtualClustersPanel } from './panels/vcs';
import { YtungSidebar } from './sidebar';
import { TRANSLATION_DOMAIN } from './tokens';

/** Where the sidebar sits among the left panels (file browser 100, running sessions 200). */
const SIDEBAR_RANK = 150;

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ytung:sidebar',
  description: 'The Ytung AI platform sidebar.',
  autoStart: true,
  optional: [ITranslator, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    translator: ITranslator | null,
    restorer: ILayoutRestorer | null
  ) => {
    translator = translator ?? nullTranslator;
    const trans = translator.load(TRANSLATION_DOMAIN);
    // the translator has its language by now; every /ytung/api call names it (?lang=)
    setLanguage(translator.languageCode);

    const sidebar = new YtungSidebar(translator);
    sidebar.addSection(new OverviewPanel(trans));
    sidebar.addSection(new VirtualClustersPanel(trans));
    sidebar.addSection(new DevEnvsPanel(trans));
    sidebar.addSection(new TrainingPanel(trans));
    sidebar.addSection(new DatasetsPanel(trans));
    sidebar.addSection(new AnnotationPanel(trans, d => openLabeling(app, trans, d)));

    app.shell.add(sidebar, 'left', { rank: SIDEBAR_RANK });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }
  }
};

export default plugin;
