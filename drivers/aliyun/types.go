package aliyun

// JSON shapes of the Aliyundrive Open API, as the driver reads them. Field
// names follow the service (see docs/protocols/aliyun.md §1–§3).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"pandav/drivers"
)

// spaceFigures are an account's bytes used and in all.
type spaceFigures struct {
	UsedSize  number `json:"used_size"`
	TotalSize number `json:"total_size"`
}

func (s spaceFigures) quota() drivers.Quota {
	return drivers.Quota{Used: int64(s.UsedSize), Total: int64(s.TotalSize)}
}

// number is a count the service states as a JSON number, which some
// clients read as a string, so a string of digits is taken too; null and
// "" are 0.
type number int64

func (n *number) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(bytes.TrimSpace(b), `"`)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", b)
	}
	*n = number(f)
	return nil
}

type apiErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// tokenRequest is the Open API's token request: a refresh, or the trade
// of a QR login's authCode. Through a proxy it carries no client.
type tokenRequest struct {
	ClientID     string `json:"client_id,omitempty"`
	ClientSecret string `json:"client_secret,omitempty"`
	GrantType    string `json:"grant_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Code         string `json:"code,omitempty"`
}

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

// renewResponse is a renew service's answer; Text explains a failure.
type renewResponse struct {
	RefreshToken string `json:"refresh_token"`
	AccessToken  string `json:"access_token"`
	Text         string `json:"text"`
}

// driveInfoResponse is getDriveInfo, and the web API's user/get.
type driveInfoResponse struct {
	UserID          string `json:"user_id"`
	Name            string `json:"name"`      // getDriveInfo
	NickName        string `json:"nick_name"` // user/get
	UserName        string `json:"user_name"` // user/get
	DefaultDriveID  string `json:"default_drive_id"`
	ResourceDriveID string `json:"resource_drive_id"`
	BackupDriveID   string `json:"backup_drive_id"`
}

type spaceInfoResponse struct {
	PersonalSpaceInfo spaceFigures `json:"personal_space_info"`
}

type fileItem struct {
	DriveID         string `json:"drive_id"`
	FileID          string `json:"file_id"`
	ParentFileID    string `json:"parent_file_id"`
	Name            string `json:"name"`
	Type            string `json:"type"` // file | folder
	Size            int64  `json:"size"` // absent for folders
	FileExtension   string `json:"file_extension"`
	ContentHash     string `json:"content_hash"`
	ContentHashName string `json:"content_hash_name"`
	Category        string `json:"category"`
	Status          string `json:"status"`
	CreatedAt       string `json:"created_at"`
	LocalModifiedAt string `json:"local_modified_at"`
	UpdatedAt       string `json:"updated_at"`
	// FileName stands in for Name in the answers of create and complete.
	FileName string `json:"file_name"`
}

type listRequest struct {
	DriveID      string `json:"drive_id"`
	ParentFileID string `json:"parent_file_id"`
	Limit        int    `json:"limit"`
	Marker       string `json:"marker,omitempty"`
}

type listResponse struct {
	Items      []fileItem `json:"items"`
	NextMarker string     `json:"next_marker"`
}

// incomplete: every page has an items list, [] when the folder is empty;
// none at all is an answer that is no page.
func (p *listResponse) incomplete() error {
	if p.Items == nil {
		return errors.New("a listing answer without its items")
	}
	return nil
}

type getRequest struct {
	DriveID string `json:"drive_id"`
	FileID  string `json:"file_id"`
}

type getByPathRequest struct {
	DriveID  string `json:"drive_id"`
	FilePath string `json:"file_path"`
}

type downloadURLRequest struct {
	DriveID   string `json:"drive_id"`
	FileID    string `json:"file_id"`
	ExpireSec int    `json:"expire_sec"`
}

type downloadURLResponse struct {
	URL        string `json:"url"`
	Expiration string `json:"expiration"`
	Method     string `json:"method"`
	Size       int64  `json:"size"`
}

// The write side (docs/protocols/aliyun.md §5).

type partInfo struct {
	PartNumber int    `json:"part_number"`
	UploadURL  string `json:"upload_url,omitempty"`
}

type createRequest struct {
	DriveID         string     `json:"drive_id"`
	ParentFileID    string     `json:"parent_file_id"`
	Name            string     `json:"name"`
	Type            string     `json:"type"` // file | folder
	CheckNameMode   string     `json:"check_name_mode"`
	Size            *int64     `json:"size,omitempty"`
	PartInfoList    []partInfo `json:"part_info_list,omitempty"`
	PreHash         string     `json:"pre_hash,omitempty"`
	ContentHash     string     `json:"content_hash,omitempty"`
	ContentHashName string     `json:"content_hash_name,omitempty"`
	ProofCode       string     `json:"proof_code,omitempty"`
	ProofVersion    string     `json:"proof_version,omitempty"`
	LocalCreatedAt  string     `json:"local_created_at,omitempty"`
	LocalModifiedAt string     `json:"local_modified_at,omitempty"`
}

// createResponse names the new item file_name, not name.
type createResponse struct {
	FileID       string     `json:"file_id"`
	ParentFileID string     `json:"parent_file_id"`
	FileName     string     `json:"file_name"`
	Type         string     `json:"type"`
	Exist        bool       `json:"exist"`
	RapidUpload  bool       `json:"rapid_upload"`
	UploadID     string     `json:"upload_id"`
	PartInfoList []partInfo `json:"part_info_list"`
	CreatedAt    string     `json:"created_at"`
	UpdatedAt    string     `json:"updated_at"`
}

type uploadRequest struct {
	DriveID      string     `json:"drive_id"`
	FileID       string     `json:"file_id"`
	UploadID     string     `json:"upload_id"`
	PartInfoList []partInfo `json:"part_info_list,omitempty"`
}

type uploadURLResponse struct {
	PartInfoList []partInfo `json:"part_info_list"`
}

type updateRequest struct {
	DriveID       string `json:"drive_id"`
	FileID        string `json:"file_id"`
	Name          string `json:"name"`
	CheckNameMode string `json:"check_name_mode"`
}

type moveRequest struct {
	DriveID        string `json:"drive_id"`
	FileID         string `json:"file_id"`
	ToParentFileID string `json:"to_parent_file_id"`
	NewName        string `json:"new_name,omitempty"`
	CheckNameMode  string `json:"check_name_mode"`
}

type copyRequest struct {
	DriveID        string `json:"drive_id"`
	FileID         string `json:"file_id"`
	ToDriveID      string `json:"to_drive_id"`
	ToParentFileID string `json:"to_parent_file_id"`
	AutoRename     bool   `json:"auto_rename"`
}

// taskResponse answers move, copy, trash and delete; a non-empty
// async_task_id is work still going on.
type taskResponse struct {
	Exist       bool   `json:"exist"`
	FileID      string `json:"file_id"`
	AsyncTaskID string `json:"async_task_id"`
}

type asyncTaskRequest struct {
	AsyncTaskID string `json:"async_task_id"`
}

type asyncTaskResponse struct {
	State   string `json:"state"` // Running | Succeed | Failed
	Message string `json:"message"`
}

// The web API (docs/protocols/aliyun.md §1–§3).

type webTokenRequest struct {
	RefreshToken string `json:"refresh_token"`
	GrantType    string `json:"grant_type"`
}

// webTokenResponse also names the user, whose id the device signature
// is made from.
type webTokenResponse struct {
	TokenType      string `json:"token_type"`
	AccessToken    string `json:"access_token"`
	RefreshToken   string `json:"refresh_token"`
	ExpiresIn      int64  `json:"expires_in"`
	UserID         string `json:"user_id"`
	DefaultDriveID string `json:"default_drive_id"`
}

type createSessionRequest struct {
	DeviceName   string `json:"deviceName"`
	ModelName    string `json:"modelName"`
	Nonce        int    `json:"nonce"`
	PubKey       string `json:"pubKey"`
	RefreshToken string `json:"refreshToken"`
}

type webListRequest struct {
	DriveID        string `json:"drive_id"`
	ParentFileID   string `json:"parent_file_id"`
	Limit          int    `json:"limit"`
	Marker         string `json:"marker,omitempty"`
	All            bool   `json:"all"`
	Fields         string `json:"fields"`
	OrderBy        string `json:"order_by"`
	OrderDirection string `json:"order_direction"`
	URLExpireSec   int    `json:"url_expire_sec"`
}

// Share links (docs/protocols/aliyun.md §4).

type shareFileInfo struct {
	Type     string `json:"type"`
	FileID   string `json:"file_id"`
	FileName string `json:"file_name"`
}

type shareInfoResponse struct {
	ShareName   string          `json:"share_name"`
	DisplayName string          `json:"display_name"`
	CreatorName string          `json:"creator_name"`
	Expiration  string          `json:"expiration"`
	FileCount   int             `json:"file_count"`
	HasPwd      bool            `json:"has_pwd"`
	FileInfos   []shareFileInfo `json:"file_infos"`
}

type shareIDRequest struct {
	ShareID string `json:"share_id"`
}

type shareTokenRequest struct {
	ShareID  string `json:"share_id"`
	SharePwd string `json:"share_pwd"`
}

type shareTokenResponse struct {
	ShareToken string `json:"share_token"`
	ExpireTime string `json:"expire_time"`
	ExpiresIn  int64  `json:"expires_in"`
}

type shareListRequest struct {
	ShareID        string `json:"share_id"`
	ParentFileID   string `json:"parent_file_id"`
	Limit          int    `json:"limit"`
	Marker         string `json:"marker,omitempty"`
	OrderBy        string `json:"order_by"`
	OrderDirection string `json:"order_direction"`
}

type shareLinkRequest struct {
	DriveID   string `json:"drive_id"`
	FileID    string `json:"file_id"`
	ShareID   string `json:"share_id"`
	ExpireSec int    `json:"expire_sec"`
}

type shareLinkResponse struct {
	DownloadURL string `json:"download_url"`
	URL         string `json:"url"`
	Expiration  string `json:"expiration"`
}

type batchSubRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"`
}

type batchRequest struct {
	Resource string            `json:"resource"`
	Requests []batchSubRequest `json:"requests"`
}

type batchSubResponse struct {
	ID     string          `json:"id"`
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

type batchResponse struct {
	Responses []batchSubResponse `json:"responses"`
}

// shareCopyBody saves a shared file into the user's drive.
type shareCopyBody struct {
	FileID         string `json:"file_id"`
	ShareID        string `json:"share_id"`
	AutoRename     bool   `json:"auto_rename"`
	ToParentFileID string `json:"to_parent_file_id"`
	ToDriveID      string `json:"to_drive_id"`
}

// The account (docs/protocols/aliyun.md §1).

// vipInfoResponse is /v1.0/user/getVipInfo: identity member (none), vip
// or svip; level such as "20t"; expire in unix seconds.
type vipInfoResponse struct {
	Identity string `json:"identity"`
	Level    string `json:"level"`
	Expire   number `json:"expire"`
}

// personalInfoResponse is the web API's /v2/databox/get_personal_info.
type personalInfoResponse struct {
	RightsInfo struct {
		SpuID string `json:"spu_id"` // "non-vip" for none
		Name  string `json:"name"`
	} `json:"personal_rights_info"`
	SpaceInfo spaceFigures `json:"personal_space_info"`
}

// The logins by QR code (docs/protocols/accounts-offline-shares.md §3).

// authorizeQRRequest is /oauth/authorize/qrcode; through a proxy it
// carries no client.
type authorizeQRRequest struct {
	ClientID     string   `json:"client_id,omitempty"`
	ClientSecret string   `json:"client_secret,omitempty"`
	Scopes       []string `json:"scopes"`
	Width        int      `json:"width,omitempty"`
	Height       int      `json:"height,omitempty"`
}

type authorizeQRResponse struct {
	QRCodeURL string `json:"qrCodeUrl"` // an image of the code
	SID       string `json:"sid"`
}

// qrStatusResponse is /oauth/qrcode/{sid}/status.
type qrStatusResponse struct {
	Status   string `json:"status"` // WaitLogin | ScanSuccess | LoginSuccess | QRCodeExpired
	AuthCode string `json:"authCode"`
}

// passportResponse is the passport's envelope around what generate.do
// and query.do answer.
type passportResponse struct {
	Content struct {
		Data struct {
			// T is echoed to query.do as it came: a number of
			// milliseconds.
			T            json.Number `json:"t"`
			CodeContent  string      `json:"codeContent"`
			CK           string      `json:"ck"`
			QRCodeStatus string      `json:"qrCodeStatus"` // NEW | SCANED | CONFIRMED | EXPIRED
			BizExt       string      `json:"bizExt"`
		} `json:"data"`
		Success bool `json:"success"`
	} `json:"content"`
	HasError bool `json:"hasError"`
}

// passportLogin is bizExt, decoded: the web login a confirmed code
// carries.
type passportLogin struct {
	Result struct {
		AccessToken  string `json:"accessToken"`
		RefreshToken string `json:"refreshToken"`
	} `json:"pds_login_result"`
}

// One's own share links (docs/protocols/accounts-offline-shares.md §4).

// ownShare is the ShareLink object of create, get, update and list.
type ownShare struct {
	ShareID       string   `json:"share_id"`
	ShareName     string   `json:"share_name"`
	DisplayName   string   `json:"display_name"`
	FullShareMsg  string   `json:"full_share_msg"`
	SharePwd      string   `json:"share_pwd"`
	ShareURL      string   `json:"share_url"`
	Description   string   `json:"description"`
	Expiration    string   `json:"expiration"` // "" is never
	Expired       bool     `json:"expired"`
	FileIDList    []string `json:"file_id_list"`
	FileID        string   `json:"file_id"`
	PreviewCount  *number  `json:"preview_count"`
	SaveCount     *number  `json:"save_count"`
	DownloadCount *number  `json:"download_count"`
	Status        string   `json:"status"`
	CreatedAt     string   `json:"created_at"`
}

type ownShareCreateRequest struct {
	DriveID     string   `json:"drive_id"`
	FileIDList  []string `json:"file_id_list"`
	SharePwd    string   `json:"share_pwd"`
	Expiration  string   `json:"expiration"`
	Description string   `json:"description,omitempty"`
}

// shareUpdateRequest leaves out what does not change.
type ownShareUpdateRequest struct {
	ShareID     string  `json:"share_id"`
	SharePwd    *string `json:"share_pwd,omitempty"`
	Expiration  *string `json:"expiration,omitempty"`
	Description *string `json:"description,omitempty"`
}

type ownShareListRequest struct {
	Creator         string `json:"creator,omitempty"`
	Category        string `json:"category"`
	IncludeCanceled bool   `json:"include_canceled"`
	OrderBy         string `json:"order_by"`
	OrderDirection  string `json:"order_direction"`
	Limit           int    `json:"limit"`
	Marker          string `json:"marker,omitempty"`
}

type ownShareListResponse struct {
	Items      []ownShare `json:"items"`
	NextMarker string     `json:"next_marker"`
}

type shareMsgResponse struct {
	FullShareMsg string `json:"full_share_msg"`
	ShareURL     string `json:"share_url"`
}

type driveFile struct {
	DriveID string `json:"drive_id"`
	FileID  string `json:"file_id"`
}

type checkAvailableRequest struct {
	DriveFileList []driveFile `json:"drive_file_list"`
}

type checkAvailableResponse struct {
	InvalidItems []fileItem `json:"invalid_items"`
}

// openCreateShareRequest is the Open API's createShare, in camelCase.
type openCreateShareRequest struct {
	DriveID    string   `json:"driveId"`
	FileIDList []string `json:"fileIdList"`
	Expiration string   `json:"expiration,omitempty"`
	SharePwd   string   `json:"sharePwd"`
}

// openCreateShareResponse is createShare's short answer; whether it says
// updated_at or update_at is uncertain, and neither is read.
type openCreateShareResponse struct {
	ShareID    string `json:"share_id"`
	Expiration string `json:"expiration"`
	SharePwd   string `json:"share_pwd"`
	ShareURL   string `json:"share_url"`
	Status     string `json:"status"`
	CreatedAt  string `json:"created_at"`
}

// The transcoded preview of a shared video (§4.11).

type previewPlayInfoRequest struct {
	ShareID       string `json:"share_id"`
	DriveID       string `json:"drive_id"`
	FileID        string `json:"file_id"`
	Category      string `json:"category"`
	TemplateID    string `json:"template_id"`
	GetPreviewURL bool   `json:"get_preview_url"`
	Mode          string `json:"mode"`
	URLExpireSec  int    `json:"url_expire_sec"`
}

type transcodingTask struct {
	TemplateID     string `json:"template_id"`
	TemplateHeight int    `json:"template_height"`
	Status         string `json:"status"`
	URL            string `json:"url"`
	PreviewURL     string `json:"preview_url"`
}

type previewPlayInfoResponse struct {
	PlayInfo struct {
		Meta struct {
			Duration float64 `json:"duration"`
		} `json:"meta"`
		Tasks []transcodingTask `json:"live_transcoding_task_list"`
	} `json:"video_preview_play_info"`
}
