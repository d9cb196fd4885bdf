// One section of the Ytung sidebar as a Lumino widget: the part every panel shares.
import { ReactWidget } from '@jupyterlab/apputils';
import { MessageLoop, type Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

/**
 * A sidebar section: sets the widget id, the (already translated) title and the `ytung-panel`
 * class, and renders `view`, which is told whether the widget is visible.
 */
export abstract class SectionPanel extends ReactWidget {
  constructor(
    id: string,
    label: string,
    private readonly _view: (visible: boolean) => JSX.Element
  ) {
    super();
    this.id = id;
    this.title.label = label;
    this.addClass('ytung-panel');
  }

  render(): JSX.Element {
    return this._view(this.isVisible);
  }
}

/**
 * A section whose view polls only while visible: it re-renders on show and on hide, so that the
 * view gets the new visibility (as its `active` prop).
 */
export abstract class PollingSectionPanel extends SectionPanel {
  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.update();
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    // at once: a posted update would wait for an animation frame, which hidden tabs never get
    MessageLoop.sendMessage(this, Widget.Msg.UpdateRequest);
  }
}
